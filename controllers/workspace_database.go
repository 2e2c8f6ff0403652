package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers/postgres"
	"github.com/switchboard-dev/switchboard/controllers/specs"
	"github.com/switchboard-dev/switchboard/runtime/contract"
)

// tenantOf is the workspace's role and database, whose they are, and the
// limits its plan sets on them.
func tenantOf(ws *tenancyv1.Workspace) postgres.Tenant {
	size := specs.SizeOf(ws.EffectivePlan())
	return postgres.Tenant{
		Name:  ws.DatabaseName(),
		Claim: claimOf(ws),
		Limits: postgres.Limits{
			Connections:              size.DBConnections,
			StatementTimeout:         size.StatementTimeout,
			IdleInTransactionTimeout: size.IdleInTransactionTimeout,
		},
	}
}

// reconcileDatabase puts the tenant's role and database in place, and its
// credentials in Vault. The password exists nowhere else: when Vault has no
// valid entry, the role gets a new password.
// startDatabase starts ensuring the database and role in the background,
// under the same conditions reconcileDatabase ensures them (a known server,
// the namespace this Workspace's), so that CREATE DATABASE overlaps the
// Vault phase; reconcileDatabase waits for the result.
func (r *WorkspaceReconciler) startDatabase(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	server, ok := r.DB.Server(ws.Spec.DatabaseServer)
	if !ok || !ws.IsTrue(tenancyv1.ConditionNamespaceReady) || !ws.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	f := &databaseFuture{done: make(chan struct{})}
	tenant := tenantOf(ws)
	go func() {
		defer close(f.done)
		f.created, f.err = r.DB.EnsureDatabase(ctx, server.Name, tenant)
	}()
	s.database = f
	return ctrl.Result{}, nil
}

func (r *WorkspaceReconciler) reconcileDatabase(ctx context.Context, s *workspaceScope) (ctrl.Result, error) {
	ws := s.ws
	server, ok := r.DB.Server(ws.Spec.DatabaseServer)
	if !ok {
		s.failed, s.terminal = true, true
		ws.SetFalse(tenancyv1.ConditionDatabaseReady, tenancyv1.ReasonUnknownDatabaseServer,
			fmt.Sprintf("spec.databaseServer %q is not one of the operator's --database-servers (%s); the field is immutable, so recreate the Workspace",
				ws.Spec.DatabaseServer, strings.Join(r.DB.ServerNames(), ", ")))
		return ctrl.Result{}, nil
	}
	name := ws.DatabaseName()
	if !ws.IsTrue(tenancyv1.ConditionNamespaceReady) {
		// The credentials would go where a stranger's pods could read them.
		s.failed = true
		ws.SetFalse(tenancyv1.ConditionDatabaseReady, tenancyv1.ReasonWaitingForDependencies,
			"waiting for namespace "+ws.NamespaceName()+": nothing is written to PostgreSQL before it is this Workspace's")
		return ctrl.Result{}, nil
	}
	var created bool
	var err error
	if s.database != nil {
		created, err = s.database.wait()
	} else {
		created, err = r.DB.EnsureDatabase(ctx, server.Name, tenantOf(ws))
	}
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionDatabaseReady, "provisioning database "+name, err)
	}
	ws.Status.Database = &tenancyv1.WorkspaceDatabaseStatus{Server: server.Name, Name: name}
	if !ws.IsTrue(tenancyv1.ConditionVaultReady) {
		s.failed = true
		ws.SetFalse(tenancyv1.ConditionDatabaseReady, tenancyv1.ReasonWaitingForDependencies,
			"database and role "+name+" exist; their credentials wait for Vault")
		return ctrl.Result{}, nil
	}

	path := ws.VaultPath() + "/" + contract.EntryDatabase
	have, err := r.Vault.ReadKV(ctx, path)
	if err != nil {
		return r.dependencyError(s, tenancyv1.ConditionDatabaseReady, "reading database credentials", err)
	}
	if have != nil && have.Data[contract.DatabaseUser] == name && have.Data[contract.DatabaseName] == name &&
		have.Data[contract.DatabaseHost] == server.Host && have.Data[contract.DatabasePort] == strconv.Itoa(int(server.Port)) && have.Data[contract.DatabasePassword] != "" {
		ws.SetTrue(tenancyv1.ConditionDatabaseReady, tenancyv1.ReasonProvisioned,
			"database and role "+name+" on server "+server.Name+"; credentials in Vault")
		return ctrl.Result{}, nil
	}

	password, err := postgres.RandomPassword()
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.DB.SetPassword(ctx, server.Name, name, password); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionDatabaseReady, "setting the role's password", err)
	}
	dsn, err := r.DB.TenantDSN(server.Name, name, password)
	if err != nil {
		return ctrl.Result{}, errors.New("building tenant DSN: " + err.Error())
	}
	if _, err := r.Vault.WriteKV(ctx, path, map[string]string{
		contract.DatabaseDSN: dsn, contract.DatabaseHost: server.Host, contract.DatabasePort: strconv.Itoa(int(server.Port)),
		contract.DatabaseName: name, contract.DatabaseUser: name, contract.DatabasePassword: password,
	}, string(ws.UID)); err != nil {
		return r.dependencyError(s, tenancyv1.ConditionDatabaseReady, "storing database credentials", err)
	}
	if !created {
		r.Recorder.Eventf(ws, nil, "Normal", tenancyv1.EventPasswordRotated, "RotateCredentials",
			"Vault held no valid credentials for existing role %s; it has a new password, stored in Vault only", name)
	}
	ws.SetTrue(tenancyv1.ConditionDatabaseReady, tenancyv1.ReasonProvisioned,
		"database and role "+name+" on server "+server.Name+"; credentials in Vault")
	return ctrl.Result{}, nil
}
