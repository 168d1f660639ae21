package xrdppeer

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procInfo is what the harness reads about a process from /proc.
type procInfo struct {
	pid, ppid, uid int
	state          byte   // R, S, Z, …
	start          uint64 // start time in clock ticks since boot; tells a reused pid apart
	comm           string
	cmdline        []string
}

func (p procInfo) String() string {
	return fmt.Sprintf("%d(%s uid=%d %c)", p.pid, p.comm, p.uid, p.state)
}

// listProcs reads every process from /proc. Processes that end while it reads are left out.
func listProcs() (map[int]procInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	procs := make(map[int]procInfo, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			procs[pid] = p
		}
	}
	return procs, nil
}

// readProc reads one process; ok is false when it does not exist.
func readProc(pid int) (p procInfo, ok bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return p, false
	}
	// pid (comm) state ppid … with starttime the 22nd field; comm may hold spaces and ')'.
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return p, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 20 {
		return p, false
	}
	p.pid = pid
	p.comm = string(stat[open+1 : end])
	p.state = fields[0][0]
	p.ppid, _ = strconv.Atoi(fields[1])
	p.start, _ = strconv.ParseUint(fields[19], 10, 64)
	p.uid = -1
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if rest, found := strings.CutPrefix(l, "Uid:"); found {
				if f := strings.Fields(rest); len(f) > 0 {
					p.uid, _ = strconv.Atoi(f[0])
				}
				break
			}
		}
	}
	if cmdline, err := os.ReadFile(dir + "/cmdline"); err == nil {
		p.cmdline = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return p, true
}

// running reports whether pid exists and is not a zombie. A zombie has ended; only its exit
// status waits for its parent.
func running(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z' && p.state != 'X'
}

// descendants returns the pids of every process below root in the process tree.
func descendants(procs map[int]procInfo, root int) []int {
	children := make(map[int][]int)
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	slices.Sort(out)
	return out
}

// signalAll sends sig to each pid, ignoring those that have gone.
func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// waitGone waits up to d for every pid to end and returns those still running.
func waitGone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, pid := range pids {
			if running(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describe names pids for an error message.
func describe(pids []int) string {
	var parts []string
	for _, pid := range pids {
		if p, ok := readProc(pid); ok {
			parts = append(parts, p.String())
		} else {
			parts = append(parts, strconv.Itoa(pid))
		}
	}
	return strings.Join(parts, ", ")
}
