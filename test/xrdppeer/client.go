package xrdppeer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Helpers for the client's side: an Xvfb display (peers.StartXvfb) showing the FreeRDP window,
// which sits at the display's top left, so that a pixel of the session is the same pixel of
// the display.

// DesktopPoint is a pixel of the session's desktop that no window covers, at sizes from
// 1024x768 down to 640x480.
var DesktopPoint = struct{ X, Y int }{600, 400}

var hexColor = regexp.MustCompile(`#[0-9A-Fa-f]{6}\b`)

// PixelColor returns the colour of pixel (x, y) of display as "#RRGGBB", read with
// ImageMagick's import.
func PixelColor(ctx context.Context, display string, x, y int) (string, error) {
	path, err := exec.LookPath("import")
	if err != nil {
		return "", fmt.Errorf("import (package imagemagick): %w", err)
	}
	cmd := exec.CommandContext(ctx, path, "-window", "root", "-crop", fmt.Sprintf("1x1+%d+%d", x, y), "-depth", "8", "txt:-")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("import on %s: %w", display, err)
	}
	// "# ImageMagick pixel enumeration: 1,1,…\n0,0: (51,102,153)  #336699  srgb(51,102,153)"
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	color := hexColor.FindString(lines[len(lines)-1])
	if color == "" {
		return "", fmt.Errorf("import on %s: no colour in %q", display, out)
	}
	return strings.ToUpper(color), nil
}

// WaitDesktop polls display until DesktopPoint shows DesktopColor — the session's desktop is
// up in the client — for up to timeout, and returns whether it did and the last colour seen.
func WaitDesktop(ctx context.Context, t testing.TB, display string, timeout time.Duration) (bool, string) {
	t.Helper()
	if _, err := exec.LookPath("import"); err != nil {
		unavailable(t, "import not found; install with: apt-get install -y --no-install-recommends imagemagick")
	}
	var last string
	ok := poll(timeout, func() bool {
		c, err := PixelColor(ctx, display, DesktopPoint.X, DesktopPoint.Y)
		if err != nil {
			last = err.Error()
			return false
		}
		last = c
		return c == DesktopColor
	})
	return ok, last
}

// TypeLine types line and Return into the FreeRDP client window on display (an Xvfb display
// such as peers.StartXvfb returns) with xdotool: it gives the window the keyboard focus (the
// first xfreerdp window, should there be several), then sends the keys, which FreeRDP forwards
// as scancodes. Against this peer the text lands in the
// session's shell once WaitFile(t, "ready", SessionBanner, …) is true.
func TypeLine(ctx context.Context, t testing.TB, display, line string) {
	t.Helper()
	path, err := exec.LookPath("xdotool")
	if err != nil {
		unavailable(t, "xdotool not found; install with: %s", installHint)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path,
		"search", "--sync", "--onlyvisible", "--class", "xfreerdp", "windowfocus", "--sync",
		"type", "--delay", "40", "--", line)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xdotool type on %s: %v: %s", display, err, out)
	}
	cmd = exec.CommandContext(ctx, path, "key", "--delay", "40", "Return")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xdotool key on %s: %v: %s", display, err, out)
	}
}
