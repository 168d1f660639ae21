// Package hostmatch decides whether a machine a user names is allowed by a launcher's patterns.
//
// A pattern is a host (`web01.corp.example`), a host with a port (`web01:3390`), a wildcard
// (`*` within one DNS label, so `web*.corp.example`; a leading `*.` matches any depth of
// subdomain), or a CIDR (`10.1.0.0/16`, optionally `10.1.0.0/16:3390`). Without a port in the
// pattern any port matches. Host names compare case-insensitively.
package hostmatch

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// DefaultPort is the RDP port assumed when a machine names none.
const DefaultPort = 3389

// Target is a normalised host and port.
type Target struct {
	Host string
	Port int
}

// String is host:port (IPv6 in brackets).
func (t Target) String() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// ParseTarget reads "host", "host:port", "[v6]:port" or "v6".
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 300 {
		return Target{}, fmt.Errorf("machine %q is empty or too long", s)
	}
	host, port := s, DefaultPort
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("machine %q has an invalid port", s)
		}
		host, port = h, n
	} else if strings.Count(s, ":") == 1 {
		return Target{}, fmt.Errorf("machine %q: %w", s, err)
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return Target{Host: ip.Unmap().String(), Port: port}, nil
	}
	if !validHostname(host) {
		return Target{}, fmt.Errorf("machine %q is not a host name or IP address", s)
	}
	return Target{Host: host, Port: port}, nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// Allowed reports whether t matches any of patterns.
func Allowed(patterns []string, t Target) bool {
	for _, p := range patterns {
		if match(p, t) {
			return true
		}
	}
	return false
}

// Validate returns an error for a pattern that can never match.
func Validate(pattern string) error {
	hostPart, _, err := splitPattern(pattern)
	if err != nil {
		return err
	}
	if strings.Contains(hostPart, "/") {
		if _, err := netip.ParsePrefix(hostPart); err != nil {
			return fmt.Errorf("pattern %q: %w", pattern, err)
		}
		return nil
	}
	if _, err := path.Match(hostPart, "x"); err != nil {
		return fmt.Errorf("pattern %q: %w", pattern, err)
	}
	return nil
}

// splitPattern separates an optional ":port" suffix.
func splitPattern(p string) (string, int, error) {
	p = strings.ToLower(strings.TrimSpace(p))
	if p == "" {
		return "", 0, fmt.Errorf("empty host pattern")
	}
	if i := strings.LastIndex(p, ":"); i >= 0 && !strings.HasSuffix(p, "]") && strings.Count(p, ":") == 1 {
		n, err := strconv.Atoi(p[i+1:])
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("pattern %q has an invalid port", p)
		}
		return p[:i], n, nil
	}
	if strings.HasPrefix(p, "[") {
		if h, ps, err := net.SplitHostPort(p); err == nil {
			n, err := strconv.Atoi(ps)
			if err != nil || n < 1 || n > 65535 {
				return "", 0, fmt.Errorf("pattern %q has an invalid port", p)
			}
			return h, n, nil
		}
		return strings.Trim(p, "[]"), 0, nil
	}
	return p, 0, nil
}

func match(pattern string, t Target) bool {
	hostPart, port, err := splitPattern(pattern)
	if err != nil || (port != 0 && port != t.Port) {
		return false
	}
	if strings.Contains(hostPart, "/") {
		prefix, err := netip.ParsePrefix(hostPart)
		if err != nil {
			return false
		}
		ip, err := netip.ParseAddr(t.Host)
		return err == nil && prefix.Contains(ip)
	}
	if ip, err := netip.ParseAddr(hostPart); err == nil {
		return ip.Unmap().String() == t.Host
	}
	if rest, ok := strings.CutPrefix(hostPart, "*."); ok {
		return strings.HasSuffix(t.Host, "."+rest) && !isIP(t.Host)
	}
	// path.Match's `*` does not cross '/', so map dots to slashes to keep it inside one label.
	ok, err := path.Match(strings.ReplaceAll(hostPart, ".", "/"), strings.ReplaceAll(t.Host, ".", "/"))
	return err == nil && ok
}

func isIP(h string) bool { _, err := netip.ParseAddr(h); return err == nil }
