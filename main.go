// Command switchboard is the Switchboard operator: it turns Workspaces into
// isolated tenants and keeps Integration credentials in Vault only.
// `switchboard backup decrypt` decrypts a backup artifact by hand;
// `switchboard receipts verify|export` checks or exports the receipt chain.
package main

import (
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/switchboard-dev/switchboard/controllers"
	"github.com/switchboard-dev/switchboard/controllers/backup/cli"
	"github.com/switchboard-dev/switchboard/controllers/config"
	receiptscli "github.com/switchboard-dev/switchboard/controllers/receipts/cli"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backup" {
		os.Exit(cli.Main(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "receipts" {
		os.Exit(receiptscli.Main(os.Args[2:]))
	}
	cfg, err := config.Load(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard: "+err.Error())
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(os.Getenv("SWITCHBOARD_DEV_LOGS") == "true")))
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard: no Kubernetes configuration: "+err.Error())
		os.Exit(2)
	}
	mgr, err := controllers.NewManager(restCfg, cfg, controllers.ManagerOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "switchboard: "+err.Error())
		os.Exit(1)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "switchboard: "+err.Error())
		os.Exit(1)
	}
}
