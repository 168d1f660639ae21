// Package peers starts real programs that tests talk to — an Xvfb display and the FreeRDP
// client — so end-to-end tests exercise standard clients rather than fakes.
//
// A missing program skips the test with a message naming the package to install, unless the
// environment variable SC_REQUIRE_PEERS is "1" (as in CI), in which case the test fails.
// Install them on Debian with hack/xvfb.sh install, or:
//
//	apt-get install -y --no-install-recommends xvfb freerdp2-x11
//
// Every process started here is stopped by the test's cleanup.
package peers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/logbuf"
)

// RequireEnv names the environment variable that turns a missing peer from a skip into a
// failure when set to "1".
const RequireEnv = "SC_REQUIRE_PEERS"

// Display numbers StartXvfb tries, in order.
const (
	firstDisplay = 90
	lastDisplay  = 120
)

// debianPackage tells which Debian package provides a program.
var debianPackage = map[string]string{
	"Xvfb":     "xvfb",
	"xfreerdp": "freerdp2-x11",
}

// Required reports whether missing peers fail tests instead of skipping them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// LookPath returns the path of program, or skips the test (fails it when Required) when the
// program is not installed.
func LookPath(t testing.TB, program string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found (%v); install it with: apt-get install -y --no-install-recommends %s",
		program, err, debianPackage[program])
	if Required() {
		t.Fatalf("%s=1 but %s", RequireEnv, msg)
	}
	t.Skip(msg)
	return ""
}

// StartXvfb starts a private Xvfb server (1280x800x24, no TCP listener) on the first free
// display from :90 to :120 and returns its DISPLAY value, such as ":93". It returns once the
// server accepts connections; the test's cleanup stops it.
func StartXvfb(t testing.TB) string {
	t.Helper()
	path := LookPath(t, "Xvfb")
	var tried []string
	for n := firstDisplay; n <= lastDisplay; n++ {
		if exists(fmt.Sprintf("/tmp/.X%d-lock", n)) || exists(fmt.Sprintf("/tmp/.X11-unix/X%d", n)) {
			continue
		}
		display, stop, err := startXvfb(path, n)
		if err != nil {
			tried = append(tried, fmt.Sprintf(":%d: %v", n, err))
			continue
		}
		t.Cleanup(stop)
		return display
	}
	t.Fatalf("no Xvfb display could be started between :%d and :%d: %s", firstDisplay, lastDisplay, strings.Join(tried, "; "))
	return ""
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// startXvfb starts Xvfb on display n and waits for it to write n to the -displayfd pipe, which
// it does once it accepts connections. Another server taking the display makes it exit early.
func startXvfb(path string, n int) (display string, stop func(), err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, fmt.Errorf("pipe: %w", err)
	}
	defer r.Close()
	var stderr logbuf.Buffer
	cmd := exec.Command(path, fmt.Sprintf(":%d", n), "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-displayfd", "3")
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Start()
	w.Close() // keep only the child's copy, so that its exit ends our read
	if err != nil {
		return "", nil, fmt.Errorf("start: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop = func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM) // lets Xvfb remove its socket and lock file
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case got := <-line:
		if got == strconv.Itoa(n) {
			return fmt.Sprintf(":%d", n), stop, nil
		}
		stop()
		return "", nil, fmt.Errorf("not ready (displayfd said %q): %s", got, lastLine(stderr.String()))
	case <-time.After(15 * time.Second):
		stop()
		return "", nil, fmt.Errorf("not ready after 15 s: %s", lastLine(stderr.String()))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// Process is a running peer program.
type Process struct {
	name string
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
	err  error // set before done is closed
}

// RunFreeRDP starts xfreerdp with args (for example a .rdp file and "/cert:ignore") on display,
// with stdin from /dev/null and HOME in a temporary folder (FreeRDP keeps its known hosts and
// configuration there). It does not wait: use Done, Wait or Stop. The process is killed when ctx
// ends and by the test's cleanup, which also logs its output when the test failed.
func RunFreeRDP(ctx context.Context, t testing.TB, display string, args ...string) *Process {
	t.Helper()
	path := LookPath(t, "xfreerdp")
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(),
		"DISPLAY="+display,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
	)
	p := start(t, "xfreerdp", cmd)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("xfreerdp %s (exit %d) output:\n%s", strings.Join(args, " "), p.ExitCode(), p.Output())
		}
	})
	return p
}

func start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	out := &logbuf.Buffer{}
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns the error of exec.Cmd.Wait (an
// *exec.ExitError for a non-zero exit).
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Stop kills the process unless it has exited, and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ExitCode returns the exit code once the process has exited: -1 when a signal ended it (as
// after Stop), or when it is still running.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
	default:
		return -1
	}
	var ee *exec.ExitError
	if p.err == nil {
		return 0
	}
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }
