package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/robfig/cron/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
	"github.com/switchboard-dev/switchboard/runtime/privacy/retention"
)

// PolicyError says why a workspace has no effective RetentionPolicy: the
// one it names does not exist, or two policies claim to be the default.
// Nothing is purged for it until that is fixed.
type PolicyError struct {
	Reason  string
	Message string
}

func (e *PolicyError) Error() string { return e.Message }

// resolvePolicy returns the workspace's effective policy: the one it names,
// else the one annotated default, else nil (the built-in defaults). It
// fails with a *PolicyError when the named policy does not exist or more
// than one policy is the default.
func resolvePolicy(ctx context.Context, reader client.Reader, ws *tenancyv1.Workspace) (*tenancyv1.RetentionPolicy, error) {
	if ref := ws.Spec.RetentionPolicyRef; ref != nil {
		p := &tenancyv1.RetentionPolicy{}
		if err := reader.Get(ctx, client.ObjectKey{Name: ref.Name}, p); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &PolicyError{Reason: tenancyv1.ReasonPolicyNotFound,
					Message: "spec.retentionPolicyRef names RetentionPolicy " + ref.Name + ", which does not exist: nothing is purged until it does"}
			}
			return nil, err
		}
		return p, nil
	}
	var list tenancyv1.RetentionPolicyList
	if err := reader.List(ctx, &list); err != nil {
		return nil, err
	}
	defaults := defaultPolicies(list.Items)
	switch len(defaults) {
	case 0:
		return nil, nil
	case 1:
		return defaults[0], nil
	}
	names := make([]string, len(defaults))
	for i, p := range defaults {
		names[i] = p.Name
	}
	return nil, &PolicyError{Reason: tenancyv1.ReasonConflictingDefaults,
		Message: "RetentionPolicies " + strings.Join(names, " and ") + " are all annotated " + tenancyv1.AnnotationDefaultPolicy +
			"=true: a workspace that names none has no policy, and nothing is purged for it until one annotation is removed"}
}

// defaultPolicies are the policies annotated default=true, by name.
func defaultPolicies(all []tenancyv1.RetentionPolicy) []*tenancyv1.RetentionPolicy {
	var out []*tenancyv1.RetentionPolicy
	for i := range all {
		if all[i].Annotations[tenancyv1.AnnotationDefaultPolicy] == "true" {
			out = append(out, &all[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RetentionPolicyReconciler reports each RetentionPolicy's state: how many
// workspaces it governs, and whether it can govern any (a second default
// policy, a schedule that does not parse).
type RetentionPolicyReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// Backups reaches the tenant databases, to count a plan.
	Backups           *BackupEnv
	ReceiptsNamespace string
	// Now is the clock (tests move it); nil is time.Now.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=retentionpolicies,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenancy.switchboard.dev,resources=retentionpolicies/status,verbs=get;update;patch

// Reconcile writes one policy's status.
func (r *RetentionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	p := &tenancyv1.RetentionPolicy{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	defer func() {
		patchStatus(ctx, r.Client, before, p, func(p *tenancyv1.RetentionPolicy) tenancyv1.RetentionPolicyStatus { return p.Status }, &result, &retErr)
	}()

	var policies tenancyv1.RetentionPolicyList
	if err := r.List(ctx, &policies); err != nil {
		return ctrl.Result{}, err
	}
	defaults := defaultPolicies(policies.Items)
	isDefault := p.Annotations[tenancyv1.AnnotationDefaultPolicy] == "true"
	var workspaces tenancyv1.WorkspaceList
	if err := r.List(ctx, &workspaces); err != nil {
		return ctrl.Result{}, err
	}
	governed := 0
	for i := range workspaces.Items {
		ws := &workspaces.Items[i]
		if !ws.DeletionTimestamp.IsZero() {
			continue
		}
		if ref := ws.Spec.RetentionPolicyRef; (ref != nil && ref.Name == p.Name) || (ref == nil && isDefault && len(defaults) == 1) {
			governed++
		}
	}
	p.Status.Workspaces = governed
	p.Status.ObservedGeneration = p.Generation

	set := func(status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: tenancyv1.ConditionReady, Status: status,
			Reason: reason, Message: msg, ObservedGeneration: p.Generation})
	}
	var governedWS []*tenancyv1.Workspace
	for i := range workspaces.Items {
		ws := &workspaces.Items[i]
		if ws.DeletionTimestamp.IsZero() && ((ws.Spec.RetentionPolicyRef != nil && ws.Spec.RetentionPolicyRef.Name == p.Name) ||
			(ws.Spec.RetentionPolicyRef == nil && isDefault && len(defaults) == 1)) {
			governedWS = append(governedWS, ws)
		}
	}
	planReason, planMsg, err := r.reconcilePlan(ctx, p, governedWS)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch err := validatePolicy(p); {
	case err != nil:
		set(metav1.ConditionFalse, tenancyv1.ReasonInvalidSchedule, err.Error())
	case planReason != "":
		set(metav1.ConditionFalse, planReason, planMsg)
	case isDefault && len(defaults) > 1:
		var others []string
		for _, d := range defaults {
			if d.Name != p.Name {
				others = append(others, d.Name)
			}
		}
		msg := "RetentionPolicy " + strings.Join(others, ", ") + " is also annotated " + tenancyv1.AnnotationDefaultPolicy +
			"=true: workspaces that name no policy get none, and nothing is purged for them, until one annotation is removed"
		if c := meta.FindStatusCondition(before.Status.Conditions, tenancyv1.ConditionReady); c == nil || c.Reason != tenancyv1.ReasonConflictingDefaults {
			r.Recorder.Eventf(p, nil, "Warning", tenancyv1.ReasonConflictingDefaults, "Resolve", "%s", msg)
		}
		set(metav1.ConditionFalse, tenancyv1.ReasonConflictingDefaults, msg)
	default:
		set(metav1.ConditionTrue, tenancyv1.ReasonGoverning, fmt.Sprintf("governs %d workspaces", governed))
	}
	return ctrl.Result{}, nil
}

// stricter says whether categories would delete or anonymise anything that
// inForce keeps: a category inForce does not list, a shorter retainFor, or
// Delete where inForce anonymises.
func stricter(categories, inForce []tenancyv1.CategoryRetention) bool {
	old := map[tenancyv1.DataCategory]tenancyv1.CategoryRetention{}
	for _, c := range inForce {
		old[c.Category] = c
	}
	for _, c := range categories {
		o, ok := old[c.Category]
		if !ok {
			return true
		}
		d, err1 := c.RetainFor.Parse()
		od, err2 := o.RetainFor.Parse()
		if err1 != nil || err2 != nil || d < od {
			return true
		}
		if actionOf(c) == tenancyv1.RetentionDelete && actionOf(o) == tenancyv1.RetentionAnonymize {
			return true
		}
	}
	return false
}

func actionOf(c tenancyv1.CategoryRetention) tenancyv1.RetentionAction {
	if c.Action == "" {
		return tenancyv1.RetentionDelete
	}
	return c.Action
}

// planHash identifies a generation's plan: its policy, generation and
// categories. Approving it approves that generation and nothing later.
func planHash(p *tenancyv1.RetentionPolicy) string {
	b, _ := json.Marshal(struct {
		Name       string
		Generation int64
		Categories []tenancyv1.CategoryRetention
	}{p.Name, p.Generation, p.Spec.Categories})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// reconcilePlan puts the policy's generation in force, or, when it would
// remove more rows than the generation in force, plans it and waits for
// the plan's approval. It returns a reason and message while it waits.
func (r *RetentionPolicyReconciler) reconcilePlan(ctx context.Context, p *tenancyv1.RetentionPolicy, governed []*tenancyv1.Workspace) (string, string, error) {
	apply := func() {
		p.Status.EnforcedGeneration = p.Generation
		p.Status.EnforcedCategories = append([]tenancyv1.CategoryRetention(nil), p.Spec.Categories...)
		p.Status.Plan = nil
	}
	if p.Status.EnforcedGeneration == p.Generation {
		return "", "", nil
	}
	if !stricter(p.Spec.Categories, p.Status.EnforcedCategories) {
		apply()
		return "", "", nil
	}
	hash := planHash(p)
	if p.Status.Plan == nil || p.Status.Plan.Hash != hash {
		plan, err := r.computePlan(ctx, p, governed, hash)
		if err != nil {
			return "", "", err
		}
		var total int64
		for _, n := range plan.Rows {
			total += n
		}
		if total == 0 && len(plan.Unreachable) == 0 {
			apply() // it removes nothing more today: no surprise to approve
			return "", "", nil
		}
		p.Status.Plan = plan
		r.Recorder.Eventf(p, nil, "Warning", tenancyv1.ReasonPlanAwaitingApproval, "Plan",
			"generation %d would remove %d more rows in %d workspaces; generation %d stays in force until plan %s is approved", p.Generation, total, len(governed), p.Status.EnforcedGeneration, hash)
	}
	approval := p.Annotations[tenancyv1.AnnotationApprovePlan]
	switch {
	case approval == hash:
		r.Recorder.Eventf(p, nil, "Normal", "PlanApproved", "Plan", "plan %s approved: generation %d is in force", hash, p.Generation)
		apply()
		return "", "", nil
	case approval != "":
		return tenancyv1.ReasonStaleApproval, fmt.Sprintf("the approval names plan %s, but the plan of generation %d is %s: review it (status.plan, ConfigMap %s/%s) and approve that one; generation %d stays in force",
			approval, p.Generation, hash, r.ReceiptsNamespace, p.Status.Plan.ConfigMap, p.Status.EnforcedGeneration), nil
	}
	var total int64
	for _, n := range p.Status.Plan.Rows {
		total += n
	}
	return tenancyv1.ReasonPlanAwaitingApproval, fmt.Sprintf("generation %d would delete or anonymise %d more rows than generation %d in force (status.plan; full plan in ConfigMap %s/%s); approve with: kubectl annotate retentionpolicy %s %s=%s",
		p.Generation, total, p.Status.EnforcedGeneration, r.ReceiptsNamespace, p.Status.Plan.ConfigMap, p.Name, tenancyv1.AnnotationApprovePlan, hash), nil
}

// computePlan counts, in every governed workspace's database, the rows the
// policy's categories would remove beyond those in force.
func (r *RetentionPolicyReconciler) computePlan(ctx context.Context, p *tenancyv1.RetentionPolicy, governed []*tenancyv1.Workspace, hash string) (*tenancyv1.RetentionPlan, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	newRules, err := rulesFrom(p.Spec.Categories)
	if err != nil {
		return nil, err
	}
	oldRules, err := rulesFrom(p.Status.EnforcedCategories)
	if err != nil {
		return nil, err
	}
	plan := &tenancyv1.RetentionPlan{Generation: p.Generation, Hash: hash, ComputedAt: metav1.NewTime(now.UTC().Truncate(time.Second)),
		Rows: map[string]int64{}, Workspaces: len(governed)}
	full := map[string]map[string]int64{}
	var shares []tenancyv1.WorkspaceRows
	for _, ws := range governed {
		// A workspace under legal hold counts too: lifting the hold later
		// must not purge by surprise.
		if !ws.IsTrue(tenancyv1.ConditionDatabaseReady) {
			continue
		}
		rows, err := r.countPlan(ctx, ws, newRules, oldRules, now)
		if err != nil {
			logf.FromContext(ctx).Info("counting a retention plan failed", "workspace", ws.Name, "error", err.Error())
			plan.Unreachable = append(plan.Unreachable, ws.Name)
			continue
		}
		var sum int64
		for c, n := range rows {
			plan.Rows[c] += n
			sum += n
		}
		full[ws.Name] = rows
		shares = append(shares, tenancyv1.WorkspaceRows{Workspace: ws.Name, Rows: sum})
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].Rows > shares[j].Rows })
	for _, sh := range shares {
		if sh.Rows > 0 && len(plan.Largest) < 10 {
			plan.Largest = append(plan.Largest, sh)
		}
	}
	body, err := json.MarshalIndent(map[string]any{"policy": p.Name, "generation": p.Generation, "hash": hash,
		"inForce": p.Status.EnforcedGeneration, "computedAt": plan.ComputedAt, "workspaces": full, "unreachable": plan.Unreachable}, "", "  ")
	if err != nil {
		return nil, err
	}
	plan.ConfigMap = "retention-plan-" + p.Name + "-" + hash
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: plan.ConfigMap, Namespace: r.ReceiptsNamespace,
		Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, "tenancy.switchboard.dev/retention-plan": p.Name}},
		Data: map[string]string{"plan.json": string(body)}}
	if err := r.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("writing the plan's ConfigMap: %w", err)
	}
	return plan, nil
}

// countPlan counts one workspace's rows that newRules remove and oldRules keep.
func (r *RetentionPolicyReconciler) countPlan(ctx context.Context, ws *tenancyv1.Workspace, newRules, oldRules []retention.Rule, now time.Time) (map[string]int64, error) {
	db, err := r.Backups.tenantDatabase(ctx, ws, ws.DatabaseName())
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(db.ConnString())
	if err != nil {
		return nil, errors.New("the workspace's database credentials do not parse")
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	count := func(rules []retention.Rule) (map[string]int64, error) {
		out := map[string]int64{}
		if len(rules) == 0 {
			return out, nil
		}
		outcomes, err := retention.Plan(ctx, pool, rules, now)
		if err != nil {
			return nil, err
		}
		for _, o := range outcomes {
			out[string(o.Category)] += o.Rows()
		}
		return out, nil
	}
	newRows, err := count(newRules)
	if err != nil {
		return nil, err
	}
	oldRows, err := count(oldRules)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for c, n := range newRows {
		if more := n - oldRows[c]; more > 0 {
			out[c] = more
		}
	}
	return out, nil
}

// validatePolicy checks what the CRD's schema cannot: that the backup
// schedule is a cron expression.
func validatePolicy(p *tenancyv1.RetentionPolicy) error {
	if s := p.Spec.Backups.Schedule; s != "" {
		if _, err := cron.ParseStandard(s); err != nil {
			return fmt.Errorf("spec.backups.schedule %q is not a five-field cron expression: %v", s, err)
		}
	}
	return nil
}

// SetupWithManager registers the controller: a policy is reconciled when
// it, another policy (the default may change hands) or a workspace changes.
func (r *RetentionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var list tenancyv1.RetentionPolicyList
		if err := r.List(ctx, &list); err != nil {
			return nil
		}
		out := make([]reconcile.Request, len(list.Items))
		for i := range list.Items {
			out[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
		}
		return out
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("retentionpolicy").
		For(&tenancyv1.RetentionPolicy{}).
		Watches(&tenancyv1.RetentionPolicy{}, all).
		// A workspace counts towards a policy by its spec: status changes
		// are not worth a recount.
		Watches(&tenancyv1.Workspace{}, all, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
