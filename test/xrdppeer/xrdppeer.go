// Package xrdppeer starts a real RDP target for end-to-end tests: a private xrdp and
// xrdp-sesman pair on loopback that authenticates a throw-away local user through PAM and
// gives every connection a fresh Xorg (xorgxrdp) session with a recognisable desktop.
//
// The session's desktop is solid DesktopColor with one xterm at 80x10+50+50 whose shell
// prints SessionBanner, writes it to the file "ready" in Peer.WorkDir once the xterm holds the
// keyboard focus, and then reads commands, so that text typed in a client (TypeLine) runs in
// it: type "echo typed-ok > typed.txt" and read it back with ReadFile or WaitFile.
//
// Requirements: root, and the Debian packages xrdp, xorgxrdp, xterm, x11-xserver-utils and
// xdotool, plus imagemagick for PixelColor and WaitDesktop (hack/install-deps.sh installs
// them). When something is missing the test is skipped
// with a message naming it, unless SC_REQUIRE_PEERS=1 (peers.Required), which fails it.
//
// One peer at a time per machine: xrdp 0.9.21 always reaches sesman on the ListenPort of
// /etc/xrdp/sesman.ini (it reads that file, not the one given with -c), and both programs
// refuse to start while the pid files of a system-wide xrdp exist. Start therefore holds an
// exclusive flock on LockPath for the peer's lifetime; peers of parallel tests and of other
// test binaries wait for one another. A single peer serves many connections at once (each one
// gets its own session), so tests that need several clients share one peer.
//
// What xrdp 0.9.21 offers a client (or a proxy's target leg): TLS security only (the X.224
// negotiation selects PROTOCOL_SSL; no NLA/CredSSP, no standard RDP security), the certificate
// whose CertSHA256 a proxy pins, and logon with the credentials of the Client Info PDU. An
// alternate shell in that PDU replaces startwm.sh, so such a session shows no xterm. With
// KillDisconnected, xorgxrdp ends a session about 60 s after its client disconnects (sesman
// logs "terminated session"); Stop ends the sessions at once.
//
// Never log Peer.Password: Redact and Redacting keep it out of test output.
package xrdppeer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/test/peers"
)

const (
	// DefaultUser is the local account the peer creates (once) and logs sessions into. It
	// exists for these tests only: Start and Stop end every process it runs.
	DefaultUser = "sctarget"

	// DesktopColor is the colour of the session's root window.
	DesktopColor = "#336699"

	// SessionBanner starts the first line the session's shell prints, followed by
	// " user=<name>".
	SessionBanner = "XRDP_SESSION_OK"

	// LockPath is the file whose flock serialises peers on a machine.
	LockPath = "/tmp/sessionconnector-xrdp.lock"

	// statePath records the peer holding the lock, so that the next Start can end the
	// processes of a test binary that died without cleaning up.
	statePath = "/tmp/sessionconnector-xrdp.state"

	// xrdpConfigDir is where xrdp 0.9.21 reads sesman.ini (for the sesman port), rsakeys.ini
	// and, unless told otherwise, everything else.
	xrdpConfigDir = "/etc/xrdp"
	runDir        = "/run/xrdp"
	socksetup     = "/usr/share/xrdp/socksetup"
	xorgxrdpLib   = "/usr/lib/xorg/modules/libxorgxrdp.so"

	installHint = "apt-get install -y --no-install-recommends xrdp xorgxrdp xterm x11-xserver-utils xdotool (or run hack/install-deps.sh)"
)

// Timeouts.
var (
	lockTimeout  = 3 * time.Minute
	readyTimeout = 15 * time.Second
	stopGrace    = 3 * time.Second
)

// Peer is a running xrdp target.
type Peer struct {
	// Addr is the RDP listener, "127.0.0.1:<port>".
	Addr string
	// User and Password log on to it. The password is new on every Start; do not log it.
	User, Password string
	// Home is the user's home directory; WorkDir (Home/shell, emptied by Start) is where the
	// session's shell starts.
	Home, WorkDir string
	// Dir holds the private xrdp.ini, sesman.ini, certificate and logs; it is removed after
	// the test.
	Dir string
	// Log returns the xrdp and sesman logs and the session script's output, password redacted.
	Log func() string

	certSHA256 string
	uid        int
	xrdp       *daemon
	sesman     *daemon
	stopOnce   sync.Once
	stopErr    error
}

// daemon is xrdp or xrdp-sesman started by the peer.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// unavailable skips the test, or fails it when peers are required.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "xrdppeer: " + fmt.Sprintf(format, args...)
	if peers.Required() {
		t.Fatalf("%s=1 but %s", peers.RequireEnv, msg)
	}
	t.Skip(msg)
}

// programs the peer runs, each with the Debian package that provides it.
var programs = []struct{ name, pkg string }{
	{"xrdp", "xrdp"},
	{"xrdp-sesman", "xrdp"},
	{"Xorg", "xserver-xorg-core (with xorgxrdp)"},
	{"xterm", "xterm"},
	{"xsetroot", "x11-xserver-utils"},
	{"xdotool", "xdotool"},
	{"bash", "bash"},
	{"useradd", "passwd"},
	{"chpasswd", "passwd"},
}

// Start starts a private xrdp and xrdp-sesman on 127.0.0.1 and returns once both accept
// connections. It creates DefaultUser if needed and gives it a new random password, writes the
// session scripts into its home, and takes the machine-wide lock (see the package comment).
// The test's cleanup ends xrdp, sesman and every session process, logs the peer's logs when
// the test failed, and releases the lock.
func Start(t testing.TB) *Peer {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "xrdp-sesman must run as root to start sessions for another user; run the test as root")
	}
	paths := make(map[string]string)
	var missing []string
	for _, p := range programs {
		path, err := exec.LookPath(p.name)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (package %s)", p.name, p.pkg))
			continue
		}
		paths[p.name] = path
	}
	if _, err := os.Stat(xorgxrdpLib); err != nil {
		missing = append(missing, xorgxrdpLib+" (package xorgxrdp)")
	}
	if len(missing) > 0 {
		unavailable(t, "missing %s; install with: %s", strings.Join(missing, ", "), installHint)
	}
	// Not t.TempDir: xrdp's ini parser cuts values at '#', which subtest names may hold.
	// Created first, so that it is removed after everything below stops.
	dir, err := os.MkdirTemp("", "sessionconnector-xrdppeer-")
	if err != nil {
		t.Fatalf("xrdppeer: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	lock, err := acquireLock(t)
	if err != nil {
		t.Fatalf("xrdppeer: %v", err)
	}
	t.Cleanup(func() { lock.Close() }) // closing releases the flock
	for _, f := range []string{"xrdp.pid", "xrdp-sesman.pid"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err == nil {
			unavailable(t, "%s exists: a system-wide xrdp seems to be running (stop it with 'systemctl stop xrdp xrdp-sesman', or remove the stale file)", filepath.Join(runDir, f))
		}
	}

	p := &Peer{User: DefaultUser, Dir: dir}
	// prepareUser ends what the user still runs (sessions of a peer whose test binary died)
	// before reapStale ends that peer's daemons, so that Xorg exits cleanly.
	if err := p.prepareUser(paths); err != nil {
		t.Fatalf("xrdppeer: %v", err)
	}
	if err := reapStale(); err != nil {
		t.Fatalf("xrdppeer: end processes of an earlier peer: %v", err)
	}
	p.Log = p.readLogs
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("xrdppeer: %v", err)
		}
		if t.Failed() {
			t.Logf("xrdppeer logs:\n%s", p.Log())
		}
	})

	if err := p.start(); err != nil {
		t.Fatalf("xrdppeer: %v", err)
	}
	return p
}

// acquireLock opens LockPath and waits for an exclusive flock on it.
func acquireLock(t testing.TB) (*os.File, error) {
	t.Helper()
	f, err := os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	deadline := time.Now().Add(lockTimeout)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", LockPath, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another xrdp peer held %s for %v", LockPath, lockTimeout)
		}
		if !logged {
			t.Logf("xrdppeer: waiting for %s (another test is using the xrdp peer)", LockPath)
			logged = true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// prepareUser creates the user if needed, sets a new password, and writes the session scripts.
func (p *Peer) prepareUser(paths map[string]string) error {
	u, err := user.Lookup(p.User)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return fmt.Errorf("look up user %s: %w", p.User, err)
		}
		out, err := exec.Command(paths["useradd"], "--create-home", "--shell", paths["bash"],
			"--comment", "sessionconnector xrdp test target", p.User).CombinedOutput()
		if err != nil {
			return fmt.Errorf("useradd %s: %w: %s", p.User, err, strings.TrimSpace(string(out)))
		}
		if u, err = user.Lookup(p.User); err != nil {
			return fmt.Errorf("look up user %s: %w", p.User, err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p.uid, p.Home = uid, u.HomeDir
	p.WorkDir = filepath.Join(p.Home, "shell")

	// Processes the user still runs belong to an earlier peer whose test binary died.
	if err := endUserProcesses(uid); err != nil {
		return err
	}

	password, err := randomPassword()
	if err != nil {
		return err
	}
	cmd := exec.Command(paths["chpasswd"])
	cmd.Stdin = strings.NewReader(p.User + ":" + password + "\n") // never on a command line
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chpasswd: %w: %s", err, strings.TrimSpace(string(out)))
	}
	p.Password = password

	if err := os.MkdirAll(p.Home, 0o755); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if err := os.RemoveAll(p.WorkDir); err != nil {
		return fmt.Errorf("empty %s: %w", p.WorkDir, err)
	}
	files := []struct {
		path string
		mode os.FileMode
		text string
	}{
		{p.WorkDir, os.ModeDir | 0o755, ""},
		{filepath.Join(p.Home, "startwm.sh"), 0o755, startwmScript(paths)},
		{filepath.Join(p.Home, "xterm-shell.sh"), 0o755, xtermShellScript(paths)},
		{filepath.Join(p.Home, "session.log"), 0o644, ""},
	}
	for _, f := range files {
		if f.mode.IsDir() {
			err = os.Mkdir(f.path, f.mode.Perm())
		} else {
			err = os.WriteFile(f.path, []byte(f.text), f.mode)
			if err == nil {
				err = os.Chmod(f.path, f.mode) // WriteFile keeps the mode of an existing file
			}
		}
		if err == nil {
			err = os.Lchown(f.path, uid, gid)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// startwmScript is ~/startwm.sh, which xrdp-sesman runs as the session (the private sesman.ini
// keeps EnableUserWindowManager=true and UserWindowManager=startwm.sh, which sesman resolves
// against the user's home and runs directly, without /etc/xrdp/startwm.sh). There is no window
// manager: nothing then moves the keyboard focus away from the xterm, whatever the pointer does.
// The xterm is the session's last client; the session ends when its shell exits.
func startwmScript(paths map[string]string) string {
	return `#!/bin/sh
# Written by sessionconnector's test/xrdppeer on every Start; run by xrdp-sesman as the session.
exec >>"$HOME/session.log" 2>&1
echo "startwm.sh: session on display $DISPLAY"
` + paths["xsetroot"] + ` -solid '` + DesktopColor + `'
cd "$HOME/shell" || exit 1
exec ` + paths["xterm"] + ` -geometry 80x10+50+50 -title sessionconnector-target -e "$HOME/xterm-shell.sh"
`
}

// xtermShellScript runs in the session's xterm. It gives the xterm the keyboard focus
// explicitly (WINDOWID is set by xterm; without a window manager the focus stays there),
// announces the session, and becomes an interactive shell.
func xtermShellScript(paths map[string]string) string {
	return `#!` + paths["bash"] + `
# Written by sessionconnector's test/xrdppeer on every Start; runs inside the session's xterm.
focus=
for _ in $(seq 100); do
	focus=$(` + paths["xdotool"] + ` getwindowfocus 2>/dev/null)
	[ "$focus" = "$WINDOWID" ] && break
	` + paths["xdotool"] + ` windowfocus "$WINDOWID" 2>/dev/null
	sleep 0.05
done
echo "` + SessionBanner + ` user=$(id -un)"
echo "` + SessionBanner + ` user=$(id -un) display=$DISPLAY window=$WINDOWID focus=$focus" >>ready
exec ` + paths["bash"] + `
`
}

// randomPassword returns a password for one Start.
func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	return fmt.Sprintf("Sc1-%x", b), nil
}

// endUserProcesses ends every process that uid runs.
func endUserProcesses(uid int) error {
	procs, err := listProcs()
	if err != nil {
		return err
	}
	var pids []int
	for _, p := range procs {
		if p.uid == uid && p.state != 'Z' {
			pids = append(pids, p.pid)
		}
	}
	if len(pids) == 0 {
		return nil
	}
	signalAll(pids, syscall.SIGTERM)
	left := waitGone(pids, stopGrace)
	signalAll(left, syscall.SIGKILL)
	if left = waitGone(left, stopGrace); len(left) > 0 {
		return fmt.Errorf("processes of uid %d survive SIGKILL: %s", uid, describe(left))
	}
	return nil
}

// start writes the configuration and starts sesman and xrdp, retrying on a new port if
// another program takes the free port first.
func (p *Peer) start() error {
	pair, err := serverCert()
	if err != nil {
		return err
	}
	if p.certSHA256, err = certSHA256(pair.cert); err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(p.Dir, "cert.pem"), filepath.Join(p.Dir, "key.pem")
	if err := os.WriteFile(certFile, pair.cert, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pair.key, 0o600); err != nil {
		return err
	}

	sesmanIni, err := os.ReadFile(filepath.Join(xrdpConfigDir, "sesman.ini"))
	if err != nil {
		return fmt.Errorf("read sesman.ini: %w", err)
	}
	// xrdp connects to the ListenPort of /etc/xrdp/sesman.ini whatever its -c says, so the
	// private sesman must listen there too.
	sesmanPort, ok := getINI(string(sesmanIni), "Globals", "ListenPort")
	if !ok {
		sesmanPort = "3350"
	}
	// With ListenAddress=127.0.0.1 sesman binds [::1] when it can, else 127.0.0.1, and xrdp
	// tries them in that order (connect_loopback in xrdp's os_calls.c).
	sesmanAddrs := []string{net.JoinHostPort("::1", sesmanPort), net.JoinHostPort("127.0.0.1", sesmanPort)}
	if addr, ok := accepting(sesmanAddrs); ok {
		return fmt.Errorf("%s already accepts connections: another xrdp-sesman is running (systemctl stop xrdp-sesman?)", addr)
	}
	sesmanCfg := filepath.Join(p.Dir, "sesman.ini")
	if err := os.WriteFile(sesmanCfg, []byte(applyINI(string(sesmanIni), []iniSetting{
		{"Globals", "ListenAddress", "127.0.0.1"},
		{"Globals", "ListenPort", sesmanPort},
		{"Globals", "EnableUserWindowManager", "true"},
		{"Globals", "UserWindowManager", "startwm.sh"},
		{"Sessions", "KillDisconnected", "true"},
		{"Sessions", "DisconnectedTimeLimit", "0"},
		{"Sessions", "Policy", "UBC"},
		{"Logging", "LogFile", filepath.Join(p.Dir, "sesman.log")},
		{"Logging", "LogLevel", "INFO"},
		{"Logging", "EnableSyslog", "false"},
		{"Logging", "EnableConsole", "false"},
		{"ChansrvLogging", "EnableSyslog", "false"},
	})), 0o600); err != nil {
		return err
	}

	if err := exec.Command("sh", socksetup).Run(); err != nil {
		return fmt.Errorf("%s (creates %s): %w", socksetup, runDir, err)
	}
	if err := p.recordState(); err != nil {
		return err
	}
	if p.sesman, err = p.run("xrdp-sesman", "-n", "-c", sesmanCfg); err != nil {
		return err
	}
	if err := p.waitListening(p.sesman, sesmanAddrs...); err != nil {
		return err
	}

	xrdpIni, err := os.ReadFile(filepath.Join(xrdpConfigDir, "xrdp.ini"))
	if err != nil {
		return fmt.Errorf("read xrdp.ini: %w", err)
	}
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		xrdpCfg := filepath.Join(p.Dir, "xrdp.ini")
		if err := os.WriteFile(xrdpCfg, []byte(applyINI(string(xrdpIni), []iniSetting{
			{"Globals", "port", "tcp://" + p.Addr},
			{"Globals", "fork", "true"},
			{"Globals", "security_layer", "negotiate"},
			{"Globals", "certificate", certFile},
			{"Globals", "key_file", keyFile},
			{"Globals", "autorun", "Xorg"},
			{"Logging", "LogFile", filepath.Join(p.Dir, "xrdp.log")},
			{"Logging", "LogLevel", "DEBUG"},
			{"Logging", "EnableSyslog", "false"},
			{"Logging", "EnableConsole", "false"},
		})), 0o600); err != nil {
			return err
		}
		if p.xrdp, err = p.run("xrdp", "-n", "-c", xrdpCfg); err != nil {
			return err
		}
		err = p.waitListening(p.xrdp, p.Addr)
		if err == nil {
			return p.recordState()
		}
		if !p.xrdp.exited() || attempt == 3 {
			return err
		}
	}
}

// run starts one of the daemons with its output in Dir.
func (p *Peer) run(name string, args ...string) (*daemon, error) {
	out, err := os.OpenFile(filepath.Join(p.Dir, name+".out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = p.Dir
	// Should the test binary die, take the daemon with it; the next Start ends its sessions.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// waitListening waits until one of addrs accepts connections, or d exits.
func (p *Peer) waitListening(d *daemon, addrs ...string) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		if _, ok := accepting(addrs); ok {
			return nil
		}
		if d.exited() {
			return fmt.Errorf("%s exited (%v) before listening on %s: %s", d.name, d.cmd.ProcessState, strings.Join(addrs, " or "), lastLines(p.Log(), 5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v: %s", d.name, strings.Join(addrs, " or "), readyTimeout, lastLines(p.Log(), 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// accepting returns the first of addrs that accepts a TCP connection.
func accepting(addrs []string) (string, bool) {
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr, true
		}
	}
	return "", false
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// recordState writes which daemons and configuration the current peer uses, for reapStale.
func (p *Peer) recordState() error {
	var b strings.Builder
	fmt.Fprintf(&b, "dir %s\n", p.Dir)
	for _, d := range []*daemon{p.sesman, p.xrdp} {
		if d == nil {
			continue
		}
		if info, ok := readProc(d.cmd.Process.Pid); ok {
			fmt.Fprintf(&b, "pid %d %d\n", info.pid, info.start)
		}
	}
	return os.WriteFile(statePath, []byte(b.String()), 0o644)
}

// reapStale ends the processes of a peer whose test binary died before its cleanup: the
// daemons recorded in statePath (checked by start time, so a reused pid is left alone) and
// every process running with that peer's configuration (the daemons' forks).
func reapStale() error {
	state, err := os.ReadFile(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	procs, err := listProcs()
	if err != nil {
		return err
	}
	var pids []int
	for _, line := range strings.Split(string(state), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "pid":
			pid, _ := strconv.Atoi(f[1])
			start, _ := strconv.ParseUint(f[2], 10, 64)
			if info, ok := procs[pid]; ok && info.start == start {
				pids = append(pids, pid)
			}
		case len(f) == 2 && f[0] == "dir" && f[1] != "":
			for _, info := range procs {
				if usesConfigIn(info, f[1]) {
					pids = append(pids, info.pid)
				}
			}
		}
	}
	if len(pids) > 0 {
		slices.Sort(pids)
		pids = slices.Compact(pids)
		signalAll(pids, syscall.SIGKILL)
		if left := waitGone(pids, stopGrace); len(left) > 0 {
			return fmt.Errorf("survive SIGKILL: %s", describe(left))
		}
	}
	return os.Remove(statePath)
}

// usesConfigIn reports whether a process is xrdp or sesman (or one of their forks) started
// with a configuration file in dir.
func usesConfigIn(info procInfo, dir string) bool {
	for _, arg := range info.cmdline {
		if arg == filepath.Join(dir, "xrdp.ini") || arg == filepath.Join(dir, "sesman.ini") {
			return true
		}
	}
	return false
}

// Stop ends the peer now: the sessions' processes (Xorg, the session script, xterm, chansrv
// and anything else the user runs), the connections' xrdp processes, then xrdp and sesman. It
// returns an error naming processes that survived SIGKILL. The test's cleanup calls it; later
// calls return the first result.
func (p *Peer) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Peer) stop() error {
	var mains []int
	for _, d := range []*daemon{p.sesman, p.xrdp} {
		if d != nil && !d.exited() {
			mains = append(mains, d.cmd.Process.Pid)
		}
	}
	related := func() (leaves, rest []int) {
		procs, err := listProcs()
		if err != nil {
			return nil, nil
		}
		seen := make(map[int]bool)
		for _, pid := range mains {
			for _, c := range descendants(procs, pid) {
				seen[c] = true
			}
		}
		for _, info := range procs {
			if (p.uid > 0 && info.uid == p.uid) || usesConfigIn(info, p.Dir) {
				seen[info.pid] = true
			}
		}
		for _, pid := range mains {
			delete(seen, pid)
		}
		for pid := range seen {
			if procs[pid].uid == p.uid {
				leaves = append(leaves, pid)
			} else {
				rest = append(rest, pid)
			}
		}
		slices.Sort(leaves)
		slices.Sort(rest)
		return leaves, rest
	}

	// The user's processes first, while sesman's session processes are there to reap them and
	// clean up after Xorg; then the session processes and xrdp's per-connection forks.
	leaves, _ := related()
	signalAll(leaves, syscall.SIGTERM)
	waitGone(leaves, stopGrace)
	leaves, rest := related()
	all := append(leaves, rest...)
	signalAll(all, syscall.SIGTERM)
	waitGone(all, stopGrace)

	for _, d := range []*daemon{p.xrdp, p.sesman} {
		if d == nil || d.exited() {
			continue
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(stopGrace):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}

	leaves, rest = related()
	left := waitGone(append(leaves, rest...), 0)
	if len(left) > 0 {
		signalAll(left, syscall.SIGKILL)
		left = waitGone(left, stopGrace)
	}
	if err := os.Remove(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("processes survive SIGKILL: %s", describe(left))
	}
	return nil
}

// CertSHA256 returns the hex SHA-256 of the DER certificate the peer presents in TLS (the
// value a proxy pins); PresentedCertSHA256(ctx, p.Addr) reads the same from the wire.
func (p *Peer) CertSHA256() string { return p.certSHA256 }

// WaitLog polls the peer's logs until they contain substring, for up to timeout, and reports
// whether they did. Useful: "login successful for user "+p.User, "login failed for user".
func (p *Peer) WaitLog(t testing.TB, substring string, timeout time.Duration) bool {
	t.Helper()
	return poll(timeout, func() bool { return strings.Contains(p.Log(), substring) })
}

// ReadFile returns the content of name in WorkDir, the directory the session's shell starts
// in: what "echo typed-ok > typed.txt" typed into the session writes.
func (p *Peer) ReadFile(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.WorkDir, name))
	return string(b), err
}

// WaitFile polls name in WorkDir until it contains substring, for up to timeout, and reports
// whether it did. WaitFile(t, "ready", SessionBanner, …) waits for a session's shell to hold the
// keyboard focus and read commands.
func (p *Peer) WaitFile(t testing.TB, name, substring string, timeout time.Duration) bool {
	t.Helper()
	return poll(timeout, func() bool {
		s, err := p.ReadFile(name)
		return err == nil && strings.Contains(s, substring)
	})
}

// loginRE matches xrdp's log line for a logon. xrdp logs each logon twice, once prefixed with
// "xrdp_wm_log_msg: ", which the anchor leaves out.
var loginRE = regexp.MustCompile(`(?m)^\[[^]]*\] \[[A-Z ]+\] login successful for user (\S+) on display (\d+)`)

// SessionDisplays returns the X display numbers of the sessions xrdp logged the user into so
// far, in order (each connection gets a new one).
func (p *Peer) SessionDisplays() []int {
	var out []int
	for _, m := range loginRE.FindAllStringSubmatch(p.Log(), -1) {
		if m[1] == p.User {
			n, _ := strconv.Atoi(m[2])
			out = append(out, n)
		}
	}
	return out
}

// Redact returns s with the peer's password replaced by "<redacted>".
func (p *Peer) Redact(s string) string {
	if p.Password == "" {
		return s
	}
	return strings.ReplaceAll(s, p.Password, "<redacted>")
}

// readLogs is Peer.Log.
func (p *Peer) readLogs() string { return p.Redact(p.rawLogs()) }

// rawLogs returns the logs as the programs wrote them.
func (p *Peer) rawLogs() string {
	var b strings.Builder
	for _, f := range []string{
		filepath.Join(p.Dir, "xrdp.log"),
		filepath.Join(p.Dir, "sesman.log"),
		filepath.Join(p.Dir, "xrdp.out"),
		filepath.Join(p.Dir, "xrdp-sesman.out"),
		filepath.Join(p.Home, "session.log"),
	} {
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "==> %s <==\n%s", f, data)
		if data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// poll calls cond every 100 ms until it returns true or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
