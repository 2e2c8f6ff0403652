package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

var _ = Describe("Periodic work", func() {
	It("takes each workspace's scheduled backup at its own offset in --periodic-spread, and spreads a slot missed during an outage over the window after the restart", func() {
		restartWith := func(spread time.Duration) {
			stopManager()
			opCfg.PeriodicSpread = spread
			startManager()
		}
		restartWith(time.Hour)
		DeferCleanup(restartWith, time.Duration(0))

		// retainFor outlasts the three-day outage below: a Backup expires at
		// its (real) creation time plus retainFor, and the operator's clock is
		// moved days ahead, so a shorter one would purge the catch-up backup
		// as soon as it completed.
		policy := newPolicy(func(p *tenancyv1.RetentionPolicy) {
			p.Spec.Backups = tenancyv1.BackupRetention{Schedule: "0 3 * * *", RetainFor: "30d", AfterDeletion: "1d"}
		})
		name := uniqueName("spr")
		ws := newWorkspace(name)
		ws.Spec.RetentionPolicyRef = &tenancyv1.LocalObjectReference{Name: policy.Name}
		createReady(ws)
		DeferCleanup(deleteAndWait, name)
		nextBackup := func() time.Time {
			st := getWS(name).Status.Backups
			if st == nil || st.NextScheduleTime == nil {
				return time.Time{}
			}
			return st.NextScheduleTime.Time
		}
		advanceTo := func(t time.Time) {
			testClock.Advance(time.Until(t) - time.Until(testClock.Now()) + time.Second)
			touch(getWS(name))
		}
		deleteBackupLater := func(b string) {
			DeferCleanup(func() {
				_ = client.IgnoreNotFound(k8s.Delete(bg, &tenancyv1.Backup{ObjectMeta: metav1.ObjectMeta{Name: b}}))
			})
		}

		By("the next backup is at 03:00 UTC plus this workspace's offset, inside the hour")
		Eventually(condition(name, tenancyv1.ConditionBackupsScheduled)).Should(haveStatus(metav1.ConditionTrue, tenancyv1.ReasonScheduled))
		due := nextBackup()
		slot := due.Truncate(time.Hour)
		Expect(slot.Hour()).To(Equal(3))
		Expect(due.After(slot)).To(BeTrue(), "an offset of exactly 0 is a one in 3.6e12 chance")
		Expect(getWS(name).GetCondition(tenancyv1.ConditionBackupsScheduled).Message).To(ContainSubstring("--periodic-spread"))
		scheduled := name + "-" + slot.UTC().Format("20060102-1504")
		deleteBackupLater(scheduled)

		if due.Sub(slot) > 5*time.Second {
			By("at the slot itself, this workspace's backup waits for its offset")
			advanceTo(slot)
			Consistently(backupGone(scheduled), 3*time.Second).Should(BeTrue())
			Expect(nextBackup()).To(BeTemporally("==", due))
		}

		By("at its offset, the slot's backup is taken")
		advanceTo(due)
		Eventually(backupPhase(scheduled), time.Minute).Should(Equal(tenancyv1.BackupCompleted))
		Eventually(nextBackup).Should(BeTemporally("==", due.Add(24*time.Hour)))

		By("the operator is down for three days; at the restart the missed slot waits for the workspace's offset after it")
		stopManager()
		testClock.Advance(3 * 24 * time.Hour)
		restart := testClock.Now()
		restartWith(time.Hour)
		missed := time.Date(restart.Year(), restart.Month(), restart.Day(), 3, 0, 0, 0, time.UTC)
		if missed.After(restart) {
			missed = missed.Add(-24 * time.Hour)
		}
		missedName := name + "-" + missed.Format("20060102-1504")
		deleteBackupLater(missedName)
		touch(getWS(name))
		Eventually(nextBackup).Should(SatisfyAll(BeTemporally(">=", restart), BeTemporally("<", restart.Add(time.Hour+10*time.Second))))
		catchUp := nextBackup()
		Expect(catchUp.Sub(restart)).To(BeNumerically("~", due.Sub(slot), 10*time.Second), "the workspace keeps its offset")
		if time.Until(catchUp)-time.Until(testClock.Now()) > 5*time.Second {
			Consistently(backupGone(missedName), 3*time.Second).Should(BeTrue())
		}
		advanceTo(catchUp)
		Eventually(backupPhase(missedName), time.Minute).Should(Equal(tenancyv1.BackupCompleted), backupsState)
		By("one backup for the three missed slots: none for the two before the last")
		for _, d := range []time.Duration{24 * time.Hour, 48 * time.Hour} {
			Expect(backupGone(name + "-" + missed.Add(-d).Format("20060102-1504"))()).To(BeTrue())
		}
	})
})
