package export

import (
	"os"
	"syscall"
)

// pipeSize is the pipe buffer asked for ffmpeg's stdin: with Linux's default 64 KiB, every
// frame takes dozens of switches between writer and ffmpeg.
const pipeSize = 1 << 20

// growPipe enlarges the buffer of the pipe w writes to, as far as the system allows
// (/proc/sys/fs/pipe-max-size, 1 MiB by default); it is only an optimisation.
func growPipe(w *os.File) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	if c, err := w.SyscallConn(); err == nil {
		_ = c.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSz, pipeSize)
		})
	}
}
