package proxy

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// reloadingCertificate serves a certificate from files and reloads it when they change, checked
// at most every interval, so a renewed certificate (cert-manager, a mounted Secret) is picked up
// without a restart.
type reloadingCertificate struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	log               logr.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	modTimes  [2]time.Time
	checkedAt time.Time
}

func newReloadingCertificate(certFile, keyFile string, now func() time.Time, log logr.Logger) (*reloadingCertificate, error) {
	r := &reloadingCertificate{certFile: certFile, keyFile: keyFile, interval: 5 * time.Second, now: now, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reloadingCertificate) stat() ([2]time.Time, error) {
	var m [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return m, fmt.Errorf("stat %s: %w", f, err)
		}
		m[i] = st.ModTime()
	}
	return m, nil
}

// load reads the pair; the caller holds mu or is the constructor.
func (r *reloadingCertificate) load() error {
	m, err := r.stat()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load proxy certificate: %w", err)
	}
	r.cert, r.modTimes, r.checkedAt = &cert, m, r.now()
	return nil
}

// GetCertificate is for tls.Config.
func (r *reloadingCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.now().Sub(r.checkedAt) >= r.interval {
		r.checkedAt = r.now()
		if m, err := r.stat(); err == nil && m != r.modTimes {
			if err := r.load(); err != nil {
				r.log.Error(err, "keeping the previous certificate")
			} else {
				r.log.Info("proxy certificate reloaded", "file", r.certFile)
			}
		}
	}
	return r.cert, nil
}
