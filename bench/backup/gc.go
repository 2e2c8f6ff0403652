package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	opconfig "github.com/switchboard-dev/switchboard/controllers/config"
	"github.com/switchboard-dev/switchboard/controllers/receipts"
	"github.com/switchboard-dev/switchboard/controllers/vault"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The GC-through-the-controller part: its database server, bucket, prefix
// and RetentionPolicy.
const (
	gcServer    = "bench"
	gcBucket    = "switchboard-gc"
	gcPrefix    = "tenants"
	gcPolicy    = "bench-gc"
	gcRetain    = time.Hour
	gcClockJump = 2 * time.Hour
)

type gcControllerResult struct {
	backups, workspaces int
	// taken says the operator took every Backup; else it took the first,
	// and the others were written like it (writeBackups).
	taken bool
	// wsReady, takenTime and writtenTime are how long the setup's steps
	// took.
	wsReady, takenTime, writtenTime time.Duration
	artifactBytes                   int64
	// total runs from the moment the clock moved until every Backup is
	// gone and the bucket holds nothing under the prefix; gone is when the
	// last Backup went, first when the first did.
	total, gone, first time.Duration
	// each is, per Backup, the time from the clock moving to its deletion
	// event.
	each []time.Duration
	// receipts counts receipt entries, in how many ConfigMaps, and how many
	// Backups have none.
	receipts, receiptMaps, missingReceipts int
	// left is what the bucket still held at the end: objects listed,
	// multipart uploads listed, files in the bucket's folder.
	objects, uploads, files int
	// errors counts "Reconciler error" lines of the operator's log by
	// controller and error, during the timed part.
	errors map[string]int
	// reconciles is what controller-runtime's metrics counted during the
	// timed part (the difference), with the workers of each controller.
	reconciles reconcileStats
}

// offsetClock is the operator's clock: the real time plus an offset the
// benchmark moves.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// operator is the operator's manager, run in this process so that its
// clock can move.
type operator struct {
	stop context.CancelFunc
	done chan error
}

func startOperator(ctx context.Context, stack *harness.Stack, cfg *opconfig.Config, clock *offsetClock) (*operator, error) {
	mgr, err := controllers.NewManager(stack.RestConfig, cfg, controllers.ManagerOptions{
		Now: clock.Now,
		// The setup may run a second manager after the first (see
		// writeBackups): their controllers have the same names.
		SkipNameValidation: true,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &operator{stop: cancel, done: make(chan error, 1)}
	go func() { o.done <- mgr.Start(ctx) }()
	return o, nil
}

// Stop stops the manager and waits for it; stopping twice is harmless.
func (o *operator) Stop() error {
	if o == nil || o.done == nil {
		return nil
	}
	o.stop()
	err := <-o.done
	o.done = nil
	if err != nil {
		return fmt.Errorf("the operator stopped with an error: %w", err)
	}
	return nil
}

// gcController measures garbage collection through the operator's own
// expiry controller: N Backups, spread over W workspaces, each with an
// encrypted artifact in a versitygw bucket, expire at once; the clock runs
// until every Backup object is gone and the bucket holds nothing under the
// store's prefix.
func (b *bench) gcController(ctx context.Context) (res *gcControllerResult, err error) {
	c := b.c
	state := filepath.Join(b.tmp, "gc")
	progress("GC through the controller: starting PostgreSQL, Vault, etcd and kube-apiserver")
	stack, err := harness.StartStack(ctx, state, gcServer, func(m string) { progress("GC: " + m) })
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	progress("GC: starting versitygw")
	s3, err := harness.StartS3(filepath.Join(state, "s3"), gcBucket)
	if err != nil {
		return nil, err
	}
	defer s3.Close()

	// The server's backups go to its own bucket, as in the controller
	// tests: a credentials file, and the server's backupStore.
	creds := filepath.Join(state, "s3-credentials")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+s3.AccessKey+
		"\naws_secret_access_key = "+s3.SecretKey+"\n"), 0o600); err != nil {
		return nil, err
	}
	storeURL := s3.StoreURL(gcBucket, gcPrefix)
	if err := os.WriteFile(filepath.Join(state, "database-servers.yaml"), []byte(
		gcServer+":\n  dsn: "+stack.PG.AdminDSN()+"\n  backupStore:\n    url: "+storeURL+"\n    credentials: "+creds+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg, err := opconfig.Load(stack.OperatorArgs(
		"--runtime-image=switchboard/runtime:bench", "--base-domain=bench.example",
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		fmt.Sprintf("--max-concurrent-backups=%d", c.gcSetupBackups),
	), func(string) string { return "" })
	if err != nil {
		return nil, err
	}

	// The operator's log goes to a file, read afterwards for reconciler
	// errors, and shown if the part fails.
	logPath := filepath.Join(state, "operator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (the operator's log ends:\n%s)", err, tail(logPath, 20))
		}
	}()
	clock := &offsetClock{}
	op, err := startOperator(ctx, stack, cfg, clock)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := op.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()

	k8s, err := client.NewWithWatch(stack.RestConfig, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return nil, err
	}
	st, err := store.Open(storeURL, store.Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey})
	if err != nil {
		return nil, err
	}
	res = &gcControllerResult{backups: c.gcBackups, workspaces: c.gcWorkspaces, taken: c.gcTakeBackups}

	// The policy: backups live an hour, and the schedule's next slot is
	// 12 hours away, so that moving the clock by 2 hours takes no
	// scheduled backup.
	slot := time.Now().UTC().Add(12 * time.Hour)
	policy := &tenancyv1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: gcPolicy},
		Spec: tenancyv1.RetentionPolicySpec{Backups: tenancyv1.BackupRetention{
			Schedule:  fmt.Sprintf("%d %d * * *", slot.Minute(), slot.Hour()),
			RetainFor: tenancyv1.Duration(fmt.Sprintf("%dh", int(gcRetain.Hours()))),
		}},
	}
	if err := k8s.Create(ctx, policy); err != nil {
		return nil, err
	}

	progress(fmt.Sprintf("GC: creating %d workspaces and waiting for their database and Vault", c.gcWorkspaces))
	names := make([]string, c.gcWorkspaces)
	for i := range names {
		names[i] = fmt.Sprintf("gc-%03d", i)
	}
	t0 := time.Now()
	err = parallel(ctx, len(names), 8, func(i int) error {
		return k8s.Create(ctx, &tenancyv1.Workspace{
			ObjectMeta: metav1.ObjectMeta{Name: names[i]},
			Spec: tenancyv1.WorkspaceSpec{
				Owner:              tenancyv1.WorkspaceOwner{Email: "owner@" + names[i] + ".example"},
				DatabaseServer:     gcServer,
				Plan:               tenancyv1.PlanStarter,
				RetentionPolicyRef: &tenancyv1.LocalObjectReference{Name: gcPolicy},
			},
		})
	})
	if err != nil {
		return nil, err
	}
	err = poll(ctx, 10*time.Minute, time.Second, func() (bool, string, error) {
		var list tenancyv1.WorkspaceList
		if err := k8s.List(ctx, &list); err != nil {
			return false, "", err
		}
		ready := 0
		for i := range list.Items {
			cs := list.Items[i].Status.Conditions
			if meta.IsStatusConditionTrue(cs, tenancyv1.ConditionDatabaseReady) && meta.IsStatusConditionTrue(cs, tenancyv1.ConditionVaultReady) {
				ready++
			}
		}
		return ready == len(names), fmt.Sprintf("%d of %d workspaces have DatabaseReady and VaultReady", ready, len(names)), nil
	})
	if err != nil {
		return nil, err
	}
	res.wsReady = time.Since(t0)
	progress(fmt.Sprintf("GC: %d workspaces ready in %s", len(names), res.wsReady.Round(time.Millisecond)))

	// The Backups, spread over the workspaces. The operator takes the
	// first (or all, with -gc-take-backups) as Manual backups; the others
	// are written by writeBackups, like the first.
	backups := make([]string, c.gcBackups)
	wsOf := map[string]string{}
	for i := range backups {
		backups[i] = fmt.Sprintf("%s-%04d", names[i%len(names)], i)
		wsOf[backups[i]] = names[i%len(names)]
	}
	taken := backups[:1]
	if c.gcTakeBackups {
		taken = backups
	}
	progress(fmt.Sprintf("GC: the operator takes %d Manual backups, %d at a time (--max-concurrent-backups)", len(taken), c.gcSetupBackups))
	t0 = time.Now()
	err = parallel(ctx, len(taken), 8, func(i int) error {
		return k8s.Create(ctx, &tenancyv1.Backup{
			ObjectMeta: metav1.ObjectMeta{Name: taken[i]},
			Spec:       tenancyv1.BackupSpec{Workspace: wsOf[taken[i]], Reason: tenancyv1.BackupReasonManual},
		})
	})
	if err != nil {
		return nil, err
	}
	if err := awaitExpiring(ctx, k8s, len(taken)); err != nil {
		return nil, err
	}
	res.takenTime = time.Since(t0)
	progress(fmt.Sprintf("GC: %d Backups taken in %s (%.1f/s)", len(taken), res.takenTime.Round(time.Millisecond),
		float64(len(taken))/res.takenTime.Seconds()))

	if written := backups[len(taken):]; len(written) > 0 {
		// The backup controller would take a Backup the moment it is
		// created: the operator stops while the others are written, and
		// starts again (on the same clock) to compute their expiry, as
		// after a restart.
		if err := op.Stop(); err != nil {
			return nil, err
		}
		template := &tenancyv1.Backup{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: taken[0]}, template); err != nil {
			return nil, err
		}
		vc, err := vault.New(vault.Config{Address: stack.Vault.Addr(), Token: harness.OperatorToken, TransitMount: cfg.VaultTransitMount}, nil)
		if err != nil {
			return nil, err
		}
		progress(fmt.Sprintf("GC: writing %d more artifacts and Completed Backups like %s, which the operator took", len(written), template.Name))
		t0 = time.Now()
		if err := writeBackups(ctx, k8s, st, vc, template, written, wsOf); err != nil {
			return nil, err
		}
		if op, err = startOperator(ctx, stack, cfg, clock); err != nil {
			return nil, err
		}
		if err := awaitExpiring(ctx, k8s, len(backups)); err != nil {
			return nil, err
		}
		res.writtenTime = time.Since(t0)
		progress(fmt.Sprintf("GC: %d Backups written in %s", len(written), res.writtenTime.Round(time.Millisecond)))
	}

	var list tenancyv1.BackupList
	if err := k8s.List(ctx, &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		res.artifactBytes += list.Items[i].Status.Artifact.Size
	}
	if objs, err := st.List(ctx, ""); err != nil {
		return nil, err
	} else if len(objs) != len(backups) {
		return nil, fmt.Errorf("the bucket holds %d artifacts under %s/, want %d", len(objs), gcPrefix, len(backups))
	}
	core, err := s3.Client()
	if err != nil {
		return nil, err
	}

	// Let the workspace reconciles that the backups caused settle.
	time.Sleep(3 * time.Second)
	if err := k8s.List(ctx, &list); err != nil {
		return nil, err
	}
	w, err := k8s.Watch(ctx, &tenancyv1.BackupList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	logStart := fileSize(logPath)
	stats0 := gatherReconciles()

	// The timed part: the clock jumps past every expiry, and each
	// workspace is touched, which queues its Backups in the expiry
	// controller (which watches Workspaces) as their expiry timers would.
	progress(fmt.Sprintf("GC: moving the operator's clock %s forward (backups.retainFor %s); timing until every Backup is gone and the bucket is empty",
		gcClockJump, gcRetain))
	clock.offset.Store(int64(gcClockJump))
	start := time.Now()
	err = parallel(ctx, len(names), 8, func(i int) error {
		ws := &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: names[i]}}
		patch := []byte(`{"metadata":{"annotations":{"bench.switchboard.dev/expire":"` + start.Format(time.RFC3339Nano) + `"}}}`)
		return k8s.Patch(ctx, ws, client.RawPatch(types.MergePatchType, patch))
	})
	if err != nil {
		return nil, err
	}
	goneAt := map[string]time.Time{}
	timeout := time.After(30 * time.Minute)
	for len(goneAt) < len(backups) {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("the watch of Backups closed with %d of %d gone", len(goneAt), len(backups))
			}
			if ev.Type == watch.Error {
				return nil, fmt.Errorf("the watch of Backups failed: %v", ev.Object)
			}
			if bk, ok := ev.Object.(*tenancyv1.Backup); ok && ev.Type == watch.Deleted {
				goneAt[bk.Name] = time.Now()
			}
		case <-timeout:
			return nil, fmt.Errorf("%d of %d Backups gone after 30 minutes", len(goneAt), len(backups))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	res.gone = time.Since(start)
	err = poll(ctx, 5*time.Minute, 20*time.Millisecond, func() (bool, string, error) {
		objs, err := st.List(ctx, "")
		if err != nil {
			return false, "", err
		}
		ups, err := core.ListMultipartUploads(ctx, gcBucket, gcPrefix+"/", "", "", "", 1000)
		if err != nil {
			return false, "", err
		}
		res.objects, res.uploads = len(objs), len(ups.Uploads)
		return res.objects == 0 && res.uploads == 0, fmt.Sprintf("%d objects and %d multipart uploads left under %s/", res.objects, res.uploads, gcPrefix), nil
	})
	res.total = time.Since(start)
	if err != nil {
		return nil, err
	}
	res.first = res.total
	for _, at := range goneAt {
		d := at.Sub(start)
		res.each = append(res.each, d)
		res.first = min(res.first, d)
	}
	progress(fmt.Sprintf("GC: %d Backups gone and the bucket empty in %s", len(backups), res.total.Round(time.Millisecond)))
	res.errors = reconcilerErrors(logPath, logStart)
	res.reconciles = gatherReconciles().since(stats0)

	// What is left on disk, and the receipts.
	err = filepath.WalkDir(s3.BucketDir(gcBucket), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			res.files++
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// The purge receipts are entries of the operator's receipt log.
	var chain bytes.Buffer
	if err := receipts.New(k8s, stack.SystemNamespace, receipts.Options{}).Export(ctx, &chain); err != nil {
		return nil, err
	}
	var entries []receipts.Entry
	if err := json.Unmarshal(chain.Bytes(), &entries); err != nil {
		return nil, err
	}
	have := map[string]bool{}
	segments := map[int64]bool{}
	for _, e := range entries {
		if e.Kind == receipts.KindBackupPurged {
			res.receipts++
			have[strings.TrimPrefix(e.Object, "Backup/")] = true
			segments[e.Seq/500] = true
		}
	}
	res.receiptMaps = len(segments)
	for _, name := range backups {
		if !have[name] {
			res.missingReceipts++
		}
	}
	progress("GC: stopping the operator and the stack")
	return res, nil
}

// awaitExpiring waits until n Backups exist and each is Completed, with
// the artifact finalizer and the expiry the expiry controller computed.
func awaitExpiring(ctx context.Context, k8s client.Client, n int) error {
	return poll(ctx, 30*time.Minute, 2*time.Second, func() (bool, string, error) {
		var list tenancyv1.BackupList
		if err := k8s.List(ctx, &list); err != nil {
			return false, "", err
		}
		done := 0
		for i := range list.Items {
			bk := &list.Items[i]
			switch {
			case bk.Status.Phase == tenancyv1.BackupFailed:
				msg := ""
				if cond := meta.FindStatusCondition(bk.Status.Conditions, tenancyv1.BackupConditionSucceeded); cond != nil {
					msg = cond.Reason + ": " + cond.Message
				}
				return false, "", fmt.Errorf("backup %s failed: %s", bk.Name, msg)
			case bk.Status.Phase == tenancyv1.BackupCompleted && bk.Status.ExpiresAt != nil &&
				controllerutil.ContainsFinalizer(bk, tenancyv1.BackupFinalizer):
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d Backups Completed, with the finalizer and expiresAt", done, n), nil
	})
}

// writeBackups makes Completed Backups as the operator would have taken
// them, with the operator stopped: each is created with the artifact
// finalizer (the expiry controller adds it), an artifact is written at the
// key the backup controller computes (<workspace>/<workspace UID>/<name>.sbk
// under the store's prefix), encrypted under a data key from the
// workspace's own transit key, of the template's size (its plaintext is
// random, not a pg_dump archive: GC never reads it), and the status holds
// what the backup controller records. Each status is checked against the
// template's field by field (shape, and the values that do not vary).
func writeBackups(ctx context.Context, k8s client.Client, st store.Store, vc *vault.Client, template *tenancyv1.Backup,
	names []string, wsOf map[string]string) error {
	ta := template.Status.Artifact
	if ta == nil || ta.Store != st.URL() {
		return fmt.Errorf("the template backup %s is not in store %s", template.Name, st.URL())
	}
	// The plaintext that makes an artifact of the template's size: the
	// overhead is that of an empty artifact with a header as long.
	overhead, err := sealedSize(ctx, vc, template.Status.TransitKey, nil)
	if err != nil {
		return err
	}
	plaintext := make([]byte, max(0, ta.Size-overhead))
	wss := map[string]*tenancyv1.Workspace{}
	var list tenancyv1.WorkspaceList
	if err := k8s.List(ctx, &list); err != nil {
		return err
	}
	for i := range list.Items {
		wss[list.Items[i].Name] = &list.Items[i]
	}
	// The template has the expiry the expiry controller computed; the
	// written ones get theirs when the operator starts again.
	bare := template.DeepCopy()
	bare.Status.ExpiresAt = nil
	want := statusShape(bare)
	return parallel(ctx, len(names), 8, func(i int) error {
		ws := wss[wsOf[names[i]]]
		bk := &tenancyv1.Backup{
			ObjectMeta: metav1.ObjectMeta{Name: names[i], Finalizers: []string{tenancyv1.BackupFinalizer}},
			Spec:       tenancyv1.BackupSpec{Workspace: ws.Name, Reason: tenancyv1.BackupReasonManual},
		}
		if err := k8s.Create(ctx, bk); err != nil {
			return err
		}
		started := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
		bk.Status = tenancyv1.BackupStatus{
			Phase: tenancyv1.BackupPending, WorkspaceUID: string(ws.UID),
			TransitKey: ws.TransitKeyName(), DatabaseServer: ws.Spec.DatabaseServer,
		}
		a := &tenancyv1.BackupArtifact{Store: st.URL(), Key: ws.Name + "/" + string(ws.UID) + "/" + bk.Name + ".sbk"}
		t0 := time.Now()
		dk, wrapped, version, err := vc.DataKey(ctx, bk.Status.TransitKey)
		if err != nil {
			return err
		}
		dumpedAt := metav1.NewTime(time.Now())
		body, err := seal(dk, artifact.Header{TransitKey: bk.Status.TransitKey, KeyVersion: version, WrappedKey: wrapped}, plaintext)
		clear(dk)
		if err != nil {
			return err
		}
		obj, err := st.Put(ctx, a.Key, bytes.NewReader(body))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a.Size, a.SHA256, a.WrappedKey, a.TransitKeyVersion = obj.Size, hex.EncodeToString(sum[:]), wrapped, version
		a.DumpedAt, a.Tables, a.Rows = &dumpedAt, ta.Tables, ta.Rows
		now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
		bk.Status.Phase, bk.Status.Artifact, bk.Status.Size = tenancyv1.BackupCompleted, a, template.Status.Size
		bk.Status.Attempts, bk.Status.StartedAt, bk.Status.CompletedAt = 1, &started, &now
		bk.SetCondition(tenancyv1.BackupConditionSucceeded, metav1.ConditionTrue, tenancyv1.BackupReasonCompleted,
			fmt.Sprintf("%s of %d tables (%d rows) encrypted with transit key %s v%d in %s", bk.Status.Size, a.Tables, a.Rows,
				bk.Status.TransitKey, version, time.Since(t0).Round(time.Millisecond)))
		if a.Size != ta.Size {
			return fmt.Errorf("the artifact of %s has %d bytes, the template's %d", bk.Name, a.Size, ta.Size)
		}
		if got := statusShape(bk); got != want {
			return fmt.Errorf("the status written for %s differs from the template's:\n%s\n%s", bk.Name, got, want)
		}
		return k8s.Status().Update(ctx, bk)
	})
}

// seal is an artifact of plaintext under dk.
func seal(dk []byte, h artifact.Header, plaintext []byte) ([]byte, error) {
	var buf bytes.Buffer
	aw, err := artifact.NewWriter(&buf, h, dk)
	if err != nil {
		return nil, err
	}
	if _, err := aw.Write(plaintext); err != nil {
		return nil, err
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sealedSize is the size of an artifact of plaintext under a data key of
// transitKey.
func sealedSize(ctx context.Context, vc *vault.Client, transitKey string, plaintext []byte) (int64, error) {
	dk, wrapped, version, err := vc.DataKey(ctx, transitKey)
	if err != nil {
		return 0, err
	}
	defer clear(dk)
	body, err := seal(dk, artifact.Header{TransitKey: transitKey, KeyVersion: version, WrappedKey: wrapped}, plaintext)
	return int64(len(body)), err
}

// statusShape is a Backup's status as the fields that are set, with the
// values that every Backup of the run shares (phase, store, sizes, counts,
// condition types and reasons, the message and key formats), so that two
// statuses compare equal when they are alike.
func statusShape(b *tenancyv1.Backup) string {
	raw, err := json.Marshal(b.Status)
	if err != nil {
		return err.Error()
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err.Error()
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(prefix+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", prefix, i), x)
			}
		default:
			out = append(out, prefix)
		}
	}
	walk("status", m)
	a := b.Status.Artifact
	vary := regexp.MustCompile(` in [0-9.]+m?s$`)
	out = append(out, "phase="+string(b.Status.Phase), "size="+b.Status.Size, fmt.Sprint("attempts=", b.Status.Attempts))
	if a != nil {
		out = append(out, "store="+a.Store, fmt.Sprint("bytes=", a.Size, " tables=", a.Tables, " rows=", a.Rows),
			"key="+strings.ReplaceAll(a.Key, b.Spec.Workspace+"/"+b.Status.WorkspaceUID+"/"+b.Name, "<workspace>/<uid>/<name>"),
			"wrappedKey="+regexp.MustCompile(`^vault:v[0-9]+:`).FindString(a.WrappedKey))
	}
	tk := b.Status.TransitKey
	if tk == tenancyv1.TransitKeyFor(b.Spec.Workspace, b.Status.WorkspaceUID) {
		tk = "the workspace's"
	}
	out = append(out, "transitKey="+tk)
	for _, c := range b.Status.Conditions {
		msg := strings.ReplaceAll(c.Message, b.Status.TransitKey, "<transit key>")
		out = append(out, "condition "+c.Type+"="+string(c.Status)+" "+c.Reason+": "+vary.ReplaceAllString(msg, " in <time>"))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// poll calls check every interval until it says done, fails, or timeout
// passes; progress shows its message when it changes, at most every 10 s.
func poll(ctx context.Context, timeout, interval time.Duration, check func() (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	var said string
	var saidAt time.Time
	for {
		done, msg, err := check()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New(msg + " after " + timeout.String())
		}
		if msg != said && time.Since(saidAt) > 10*time.Second {
			progress("GC: " + msg)
			said, saidAt = msg, time.Now()
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// reconcilerErrors counts the operator log's "Reconciler error" lines from
// offset on, by controller and error text (object names and numbers
// blanked, so that alike errors count together).
func reconcilerErrors(path string, offset int64) map[string]int {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return nil
	}
	out := map[string]int{}
	ctrlRe := regexp.MustCompile(`"controller":\s*"([^"]+)"`)
	errRe := regexp.MustCompile(`"error":\s*"((?:[^"\\]|\\.)*)"`)
	blank := regexp.MustCompile(`"[^"]*"|\\"[^"]*\\"|[0-9]+`)
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		if !strings.Contains(line, "Reconciler error") {
			continue
		}
		c, e := "?", "?"
		if m := ctrlRe.FindStringSubmatch(line); m != nil {
			c = m[1]
		}
		if m := errRe.FindStringSubmatch(line); m != nil {
			e = blank.ReplaceAllString(m[1], "_")
		}
		out[c+": "+e]++
	}
	return out
}

// reconcileStats are controller-runtime's own metrics, read from this
// process's registry, by key "<what>/<controller>": reconciles, seconds
// reconciling, requests dequeued and seconds they waited in the queue, and
// workers.
type reconcileStats map[string]float64

func gatherReconciles() reconcileStats {
	out := reconcileStats{}
	families, err := metrics.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			label := func(name string) string {
				for _, l := range m.GetLabel() {
					if l.GetName() == name {
						return l.GetValue()
					}
				}
				return ""
			}
			switch mf.GetName() {
			case "controller_runtime_reconcile_total":
				out["reconciles/"+label("controller")] += m.GetCounter().GetValue()
			case "controller_runtime_reconcile_time_seconds":
				out["seconds/"+label("controller")] += m.GetHistogram().GetSampleSum()
			case "controller_runtime_max_concurrent_reconciles":
				out["workers/"+label("controller")] = m.GetGauge().GetValue()
			case "workqueue_queue_duration_seconds":
				out["dequeued/"+label("name")] += float64(m.GetHistogram().GetSampleCount())
				out["waited/"+label("name")] += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

// since is s less the counts of before (workers are kept as they are).
func (s reconcileStats) since(before reconcileStats) reconcileStats {
	out := reconcileStats{}
	for k, v := range s {
		if !strings.HasPrefix(k, "workers/") {
			v -= before[k]
		}
		out[k] = v
	}
	return out
}

// describe says, per controller that reconciled, how often, how long, how
// busy its workers were over d, and how long requests waited in its queue;
// the busiest first.
func (s reconcileStats) describe(d time.Duration, backups int) []string {
	var names []string
	for k, v := range s {
		if c, ok := strings.CutPrefix(k, "reconciles/"); ok && v > 0 {
			names = append(names, c)
		}
	}
	sort.Slice(names, func(i, j int) bool { return s["seconds/"+names[i]] > s["seconds/"+names[j]] })
	var out []string
	for _, c := range names {
		n, secs, workers := s["reconciles/"+c], s["seconds/"+c], s["workers/"+c]
		line := fmt.Sprintf("%s: %.0f reconciles (%.1f per Backup), mean %.0f ms", c, n, n/float64(backups), 1000*secs/n)
		if workers > 0 {
			line += fmt.Sprintf(", its %.0f workers busy %.0f %% of the time", workers, 100*secs/(workers*d.Seconds()))
		}
		if q := s["dequeued/"+c]; q > 0 {
			line += fmt.Sprintf(", mean wait in its queue %.1f s", s["waited/"+c]/q)
		}
		out = append(out, line)
	}
	return out
}

// sortedCounts lists counts as "n × key", largest first.
func sortedCounts(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%d × %s", m[k], k)
	}
	return out
}
