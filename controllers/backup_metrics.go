package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Backup metrics. The per-workspace series are what an alert such as "no
// successful backup of a workspace for 26 hours" needs:
//
//	time() - switchboard_backup_last_success_timestamp_seconds > 26 * 3600
//
// The last-success gauge is set from each Workspace's status.backups, so it
// survives an operator restart; a deleted workspace's series are removed.
var (
	backupDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchboard_backup_duration_seconds",
		Help:    "Time to dump, encrypt and store one backup.",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 14),
	})
	backupLastDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_backup_last_duration_seconds",
		Help: "Duration of the workspace's last successful backup.",
	}, []string{"workspace"})
	backupLastSize = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_backup_last_size_bytes",
		Help: "Size of the workspace's last successful backup artifact, encrypted.",
	}, []string{"workspace"})
	backupLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_backup_last_success_timestamp_seconds",
		Help: "When the workspace's last successful backup completed (Unix time).",
	}, []string{"workspace"})
	backupFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_backup_failures_total",
		Help: "Failed backup runs, by workspace and reason.",
	}, []string{"workspace", "reason"})
	backupsRunning = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "switchboard_backups_running",
		Help: "Backups, restores and verifications running now (at most --max-concurrent-backups).",
	})
	backupPurges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_backup_purges_total",
		Help: "Backup artifact purges, by result (purged, failed).",
	}, []string{"result"})
)

func init() {
	metrics.Registry.MustRegister(backupDuration, backupLastDuration, backupLastSize, backupLastSuccess,
		backupFailures, backupsRunning, backupPurges)
}

// observeBackup records a successful backup.
func observeBackup(workspace string, took time.Duration, size int64, completed time.Time) {
	backupDuration.Observe(took.Seconds())
	backupLastDuration.WithLabelValues(workspace).Set(took.Seconds())
	backupLastSize.WithLabelValues(workspace).Set(float64(size))
	backupLastSuccess.WithLabelValues(workspace).Set(float64(completed.Unix()))
}

// forgetBackupMetrics removes a deleted workspace's series.
func forgetBackupMetrics(workspace string) {
	backupLastDuration.DeleteLabelValues(workspace)
	backupLastSize.DeleteLabelValues(workspace)
	backupLastSuccess.DeleteLabelValues(workspace)
	backupFailures.DeletePartialMatch(prometheus.Labels{"workspace": workspace})
}
