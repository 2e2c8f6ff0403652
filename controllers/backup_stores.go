package controllers

import (
	"errors"
	"fmt"
	"os"

	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	"github.com/switchboard-dev/switchboard/controllers/config"
)

// errNoStore says no backup store is configured for a database server.
var errNoStore = errors.New("no backup store is configured")

// Stores opens the backup store of each database server: the server's own
// backupStore (so a region's backups stay in that region), else the
// operator's --backup-store. The store is opened, and its credentials read,
// at each use, so a rotated credentials Secret takes effect without a
// restart. Credentials stay in the operator: nothing here reaches a tenant.
type Stores struct {
	// Default is --backup-store and DefaultCredentials its credentials
	// file or folder ("" means the AWS_* environment variables).
	Default, DefaultCredentials string
	Servers                     map[string]config.DatabaseServer
	// Getenv reads the AWS_* variables (default os.Getenv).
	Getenv func(string) string
}

// URL is the store URL of a server's tenants' backups, or "".
func (s *Stores) URL(server string) string {
	if srv, ok := s.Servers[server]; ok && srv.BackupStore != "" {
		return srv.BackupStore
	}
	return s.Default
}

// Open opens the store of a server's tenants' backups.
func (s *Stores) Open(server string) (store.Store, error) {
	url, creds := s.Default, s.DefaultCredentials
	if srv, ok := s.Servers[server]; ok && srv.BackupStore != "" {
		url = srv.BackupStore
		if srv.BackupStoreCredentials != "" {
			creds = srv.BackupStoreCredentials
		}
	}
	if url == "" {
		return nil, fmt.Errorf("%w for database server %q: set the operator's --backup-store, or backupStore for the server in --database-servers", errNoStore, server)
	}
	loc, err := store.ParseURL(url)
	if err != nil {
		return nil, err
	}
	var c store.Credentials
	if loc.Scheme == "s3" {
		getenv := s.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if creds != "" {
			c, err = store.LoadCredentials(creds)
		} else {
			c, err = store.CredentialsFromEnv(getenv)
		}
		if err != nil {
			return nil, fmt.Errorf("backup store credentials: %w", err)
		}
	}
	return store.Open(url, c)
}
