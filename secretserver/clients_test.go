package secretserver_test

import (
	"testing"

	"github.com/sessionconnector/sessionconnector/secretserver"
)

func TestClientsCache(t *testing.T) {
	var c secretserver.Clients
	a, err := c.Client("https://vault.example.com/SecretServer", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Client("https://vault.example.com/SecretServer", nil)
	if a != b {
		t.Fatal("same server gave two clients")
	}
	if _, err := c.Client("http://vault.example.com", nil); err == nil {
		t.Fatal("http:// accepted")
	}
	cred := secretserver.Credentials{Username: "connector", Password: "one"}
	s1, err := c.Application("https://vault.example.com/SecretServer", nil, cred)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := c.Application("https://vault.example.com/SecretServer", nil, cred)
	if s1 != s2 {
		t.Fatal("same account gave two sessions")
	}
	cred.Password = "rotated"
	if s3, _ := c.Application("https://vault.example.com/SecretServer", nil, cred); s3 == s1 {
		t.Fatal("a rotated password reused the old session")
	}
	if _, err := c.Application("https://vault.example.com/SecretServer", nil, secretserver.Credentials{Username: "x"}); err == nil {
		t.Fatal("an account without a password was accepted")
	}
}
