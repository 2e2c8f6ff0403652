// Command etcd is the etcd server, built from the released Go modules so that
// the test harness and `make dev` need no prebuilt download.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
