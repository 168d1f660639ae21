package secretserver

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// Clients keeps one Client per Secret Server (URL and CA bundle), and one application-account
// Session per account, so tokens are reused across launches and connections.
type Clients struct {
	// Logger and Now are handed to new clients.
	Logger logr.Logger
	Now    func() time.Time

	mu       sync.Mutex
	clients  map[string]*Client
	sessions map[string]*Session
}

func clientKey(url string, caBundle []byte) string {
	sum := sha256.Sum256(caBundle)
	return url + "\x00" + string(sum[:])
}

// Client returns the client for url, trusting caBundle when it is not empty.
func (c *Clients) Client(url string, caBundle []byte) (*Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := clientKey(url, caBundle)
	if cl, ok := c.clients[key]; ok {
		return cl, nil
	}
	cl, err := NewClient(Config{BaseURL: url, CABundle: caBundle, Now: c.Now, Logger: c.Logger.WithValues("secretServer", url)})
	if err != nil {
		return nil, err
	}
	if c.clients == nil {
		c.clients = map[string]*Client{}
	}
	c.clients[key] = cl
	return cl, nil
}

// Application returns the cached Session of an application account on url. A changed password
// (rotation) makes a new Session.
func (c *Clients) Application(url string, caBundle []byte, cred Credentials) (*Session, error) {
	cl, err := c.Client(url, caBundle)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(cred.Domain + "\x00" + cred.Username + "\x00" + cred.Password))
	key := clientKey(url, caBundle) + "\x00" + string(sum[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sessions[key]; ok {
		return s, nil
	}
	if cred.Username == "" || cred.Password == "" {
		return nil, fmt.Errorf("secretserver: application account needs a username and a password")
	}
	s := cl.WithPassword(cred)
	if c.sessions == nil {
		c.sessions = map[string]*Session{}
	}
	c.sessions[key] = s
	return s, nil
}

// CloseIdleConnections closes idle connections of every client.
func (c *Clients) CloseIdleConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		cl.CloseIdleConnections()
	}
}
