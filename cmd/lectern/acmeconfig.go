package main

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
)

// acmeConfig gets certificates from an ACME CA (Let's Encrypt) for a public
// host name instead of tls_cert/tls_key.
type acmeConfig struct {
	Host     string `yaml:"acme_host"`
	Email    string `yaml:"acme_email"`
	HTTPAddr string `yaml:"acme_http_addr"`
	// DirectoryURL is the CA; empty: Let's Encrypt production.
	DirectoryURL string `yaml:"acme_directory_url"`
}

func defaultACMEConfig() acmeConfig { return acmeConfig{HTTPAddr: ":80"} }

func init() {
	settings = append(settings,
		setting{"acme_host", "LECTERN_ACME_HOST", "acme-host", "public host name to get a certificate for from Let's Encrypt (instead of tls_cert)", str(func(c *config) *string { return &c.ACME.Host })},
		setting{"acme_email", "LECTERN_ACME_EMAIL", "acme-email", "contact address given to the ACME CA (optional)", str(func(c *config) *string { return &c.ACME.Email })},
		setting{"acme_http_addr", "LECTERN_ACME_HTTP_ADDR", "acme-http-addr", "listen address of the ACME HTTP-01 challenge and the redirect to HTTPS (default :80; off = none)", str(func(c *config) *string { return &c.ACME.HTTPAddr })},
		setting{"acme_directory_url", "LECTERN_ACME_DIRECTORY_URL", "acme-directory-url", "ACME directory URL (empty: Let's Encrypt)", str(func(c *config) *string { return &c.ACME.DirectoryURL })},
	)
}

// validate reports the first invalid ACME value, naming its key.
func (a acmeConfig) validate(c config) error {
	if a.Host == "" {
		if a.Email != "" {
			return errors.New("acme_email: needs acme_host")
		}
		return nil
	}
	host := strings.ToLower(a.Host)
	switch {
	case c.TLSCert != "":
		return errors.New("acme_host, tls_cert: give one or the other")
	case net.ParseIP(host) != nil || !strings.Contains(host, ".") || strings.ContainsAny(host, ":/ ") ||
		host == "localhost" || strings.HasSuffix(host, ".localhost"):
		return fmt.Errorf("acme_host: %q is not a public DNS name a CA can issue for", a.Host)
	}
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			return fmt.Errorf("acme_email: %q is not an email address", a.Email)
		}
	}
	if !off(a.HTTPAddr) {
		if _, port, err := net.SplitHostPort(a.HTTPAddr); err != nil || port == "" {
			return fmt.Errorf("acme_http_addr: %q is not host:port (for example :80) or off", a.HTTPAddr)
		}
	}
	return nil
}
