//go:build !unix

package regfile

// NonBlock is 0 where open(2) cannot block on a named pipe.
const NonBlock = 0
