//go:build unix

package regfile

import "syscall"

// NonBlock is the open(2) flag that makes opening a named pipe return at
// once instead of waiting for its other end; add it to os.OpenFile flags
// when a path could be one (cache files opened for writing, say).
const NonBlock = syscall.O_NONBLOCK
