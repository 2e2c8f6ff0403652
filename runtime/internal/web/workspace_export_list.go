package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/export"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// settingsExport shows the workspace's exports and starts new ones (owners).
func (s *Server) settingsExport(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.exports()
	if err != nil {
		return err
	}
	list, err := svc.List(r.Context())
	if err != nil {
		return err
	}
	data := settingsData(r, "export")
	views := make([]exportView, len(list))
	building := false
	for i, e := range list {
		views[i] = exportView{e}
		building = building || e.Status == store.ExportBuilding
	}
	data["Exports"], data["Building"], data["TTLHours"] = views, building, int(export.TTL.Hours())
	s.render(w, r, "settings_export", data)
	return nil
}
