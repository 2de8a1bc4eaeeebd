// Package regfiletest is the one test of "refuses what is not a regular
// file" for every package that opens files it is given (weights, configs,
// images, hub cache entries): a named pipe, a directory, a device (also
// behind a symbolic link) and, where the opener has a size limit, a file
// one byte over it must each be refused with package regfile's message,
// naming the path, without blocking. RequireRefused builds named pipes and
// so exists on Unix only; Within, which bounds how long a call may take,
// exists everywhere.
package regfiletest
