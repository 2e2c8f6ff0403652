package web

import (
	"net/http"

	"github.com/switchboard-dev/switchboard/runtime/internal/auth"
)

// route is one entry of the routing table. The table is data so that tests
// can check every route against every role.
type route struct {
	pattern string // Go 1.22 pattern: "METHOD /path/{id}"
	kind    kind
	min     auth.Role // least role allowed; ignored for public routes
	h       handler
}

// table returns the routing table.
func (s *Server) table() []route {
	return []route{
		// Public.
		{"GET /healthz", public, "", s.healthz},
		{"GET /readyz", public, "", s.readyz},
		{"GET /login", public, "", s.loginForm},
		{"POST /login", public, "", s.login},
		{"GET /invite/{token}", public, "", s.inviteForm},
		{"POST /invite/{token}", public, "", s.inviteAccept},
		{"GET /email-change/{token}", public, "", s.emailChangeForm},
		{"POST /email-change/{token}", public, "", s.emailChangeConfirm},
		{"GET /api/v1/openapi.json", public, "", s.openapi},
		{"GET /privacy", public, "", s.privacyPage},
		{"POST /privacy/requests", public, "", s.privacyPublicRequest},
		{"GET /privacy/status", public, "", s.privacyStatus},
		// Meta's data-deletion callback, beside the Integration's webhook;
		// signed_request is its credential (no session, no CSRF check).
		{"POST /webhooks/{type}/{name}/data-deletion", public, "", s.metaDataDeletion},

		// Signed-in pages.
		{"POST /logout", page, auth.Viewer, s.logout},
		{"GET /password", page, auth.Viewer, s.passwordForm},
		{"POST /password", page, auth.Viewer, s.passwordChange},
		{"GET /{$}", page, auth.Viewer, s.home},
		{"GET /inbox", page, auth.Viewer, s.inboxList},
		{"GET /search", page, auth.Viewer, s.search},
		{"GET /inbox/conversations/{id}", page, auth.Viewer, s.conversationShow},
		{"POST /inbox/conversations/{id}/reply", page, auth.Agent, s.conversationReply},
		{"POST /inbox/conversations/{id}/note", page, auth.Agent, s.conversationNote},
		{"POST /inbox/conversations/{id}/update", page, auth.Agent, s.conversationUpdate},
		{"POST /inbox/conversations/{id}/template", page, auth.Agent, s.conversationTemplate},
		{"POST /inbox/conversations/{id}/messages/{mid}/retry", page, auth.Agent, s.conversationRetry},
		{"POST /inbox/bulk", page, auth.Agent, s.conversationsBulk},
		{"GET /inbox/canned", page, auth.Agent, s.cannedLookup},
		{"GET /inbox/members", page, auth.Agent, s.inboxMembers},
		{"GET /notifications", page, auth.Viewer, s.notificationsList},
		{"GET /notifications/bell", page, auth.Viewer, s.notificationsBell},
		{"GET /notifications/{id}", page, auth.Viewer, s.notificationOpen},
		{"POST /notifications/read", page, auth.Viewer, s.notificationsRead},
		{"GET /inbox/conversations/{id}/orders", page, auth.Viewer, s.conversationOrders},
		{"GET /events", page, auth.Viewer, s.events},
		{"GET /attachments/{id}", page, auth.Viewer, s.attachment},
		{"GET /media/{token}", public, "", s.mediaLink},

		{"GET /contacts", page, auth.Viewer, s.contactsList},
		{"POST /contacts", page, auth.Agent, s.contactCreate},
		{"GET /contacts/export.csv", page, auth.Admin, s.contactsExport},
		{"GET /contacts/new", page, auth.Agent, s.contactNew},
		{"GET /contacts/import", page, auth.Admin, s.contactsImportForm},
		{"POST /contacts/import", page, auth.Admin, s.contactsImport},
		{"GET /contacts/merge", page, auth.Admin, s.contactsMergeForm},
		{"GET /contacts/duplicates", page, auth.Admin, s.contactsDuplicates},
		{"POST /contacts/merge", page, auth.Admin, s.contactsMerge},
		{"GET /contacts/{id}", page, auth.Viewer, s.contactShow},
		{"POST /contacts/{id}", page, auth.Agent, s.contactUpdate},
		{"POST /contacts/{id}/consent", page, auth.Agent, s.contactConsent},
		{"POST /contacts/{id}/notes", page, auth.Agent, s.contactNote},
		{"GET /contacts/{id}/delete", page, auth.Admin, s.contactDeleteForm},
		{"POST /contacts/{id}/delete", page, auth.Admin, s.contactDelete},
		{"GET /contacts/{id}/orders", page, auth.Viewer, s.contactOrders},
		{"GET /companies", page, auth.Viewer, s.companiesList},
		{"POST /companies", page, auth.Agent, s.companyCreate},
		{"GET /companies/{id}", page, auth.Viewer, s.companyShow},
		{"POST /companies/{id}", page, auth.Agent, s.companyUpdate},
		{"GET /companies/{id}/delete", page, auth.Agent, s.companyDeleteForm},
		{"POST /companies/{id}/delete", page, auth.Agent, s.companyDelete},
		{"GET /places/autocomplete", page, auth.Agent, s.placesAutocomplete},
		{"GET /places/details", page, auth.Agent, s.placesDetails},
		{"GET /pipeline", page, auth.Viewer, s.pipelineBoard},
		{"POST /deals", page, auth.Agent, s.dealCreate},
		{"POST /deals/{id}/move", page, auth.Agent, s.dealMove},
		{"GET /deals/{id}", page, auth.Viewer, s.dealShow},
		{"POST /deals/{id}", page, auth.Agent, s.dealUpdate},
		{"GET /deals/{id}/delete", page, auth.Agent, s.dealDeleteForm},
		{"POST /deals/{id}/delete", page, auth.Agent, s.dealDelete},

		{"GET /settings", page, auth.Viewer, s.settings},
		{"GET /settings/profile", page, auth.Viewer, s.settingsProfile},
		{"POST /settings/profile", page, auth.Viewer, s.profileUpdate},
		{"POST /settings/profile/email", page, auth.Viewer, s.profileEmail},
		{"POST /settings/profile/email/cancel", page, auth.Viewer, s.profileEmailCancel},
		{"GET /settings/team", page, auth.Viewer, s.settingsTeam},
		{"GET /settings/channels", page, auth.Admin, s.settingsChannels},
		{"GET /settings/api", page, auth.Viewer, s.settingsAPI},
		{"GET /settings/security", page, auth.Viewer, s.settingsSecurity},
		{"POST /settings/security/sessions/end-others", page, auth.Viewer, s.sessionsEndOthers},
		{"GET /settings/teams/{id}", page, auth.Viewer, s.teamShow},
		{"POST /settings/invites/{id}/resend", page, auth.Admin, s.inviteResend},
		{"POST /settings/invites/{id}/revoke", page, auth.Admin, s.inviteRevoke},
		{"GET /settings/canned/{id}", page, auth.Admin, s.cannedEdit},
		{"POST /settings/canned/{id}", page, auth.Admin, s.cannedUpdate},
		{"POST /settings/invites", page, auth.Admin, s.inviteCreate},
		{"POST /settings/users/{id}/role", page, auth.Admin, s.userRole},
		{"POST /settings/users/{id}/disable", page, auth.Admin, s.userDisable},
		{"POST /settings/teams", page, auth.Admin, s.teamCreate},
		{"POST /settings/teams/{id}/members", page, auth.Admin, s.teamMember},
		{"POST /settings/canned", page, auth.Admin, s.cannedCreate},
		{"POST /settings/canned/{id}/delete", page, auth.Admin, s.cannedDelete},
		{"POST /settings/tokens", page, auth.Viewer, s.tokenCreate},
		{"POST /settings/tokens/{id}/revoke", page, auth.Viewer, s.tokenRevoke},
		{"POST /settings/api-channel", page, auth.Admin, s.apiChannelUpdate},
		{"GET /settings/export", page, auth.Owner, s.settingsExport},
		{"POST /settings/export", page, auth.Owner, s.workspaceExportCreate},
		{"GET /settings/export/{id}/download", page, auth.Owner, s.workspaceExportDownload},
		{"GET /audit", page, auth.Admin, s.auditList},
		{"GET /requests", page, auth.Admin, s.requestsList},
		{"GET /requests/new", page, auth.Admin, s.requestNew},
		{"POST /requests", page, auth.Admin, s.requestCreate},
		{"GET /requests/{id}", page, auth.Admin, s.requestShow},
		{"POST /requests/{id}/assign", page, auth.Admin, s.requestAssign},
		{"POST /requests/{id}/complete", page, auth.Admin, s.requestComplete},
		{"POST /requests/{id}/reject", page, auth.Admin, s.requestReject},
		{"GET /requests/{id}/export", page, auth.Admin, s.requestExport},
		{"GET /settings/integrations/{name}/connect", page, auth.Admin, s.integrationConnect},
		{"GET /oauth/microsoft/callback", page, auth.Admin, s.oauthCallback},

		// JSON API.
		{"POST /api/v1/messages", api, auth.Agent, s.apiIngest},
		{"POST /api/v1/messages/{id}/delivery", api, auth.Agent, s.apiDeliveryStatus},
		{"POST /api/v1/messages/{id}/retry", api, auth.Agent, s.apiMessageRetry},
		{"GET /api/v1/conversations", api, auth.Viewer, s.apiConversations},
		{"GET /api/v1/search", api, auth.Viewer, s.apiSearch},
		{"GET /api/v1/conversations/{id}", api, auth.Viewer, s.apiConversation},
		{"PATCH /api/v1/conversations/{id}", api, auth.Agent, s.apiConversationUpdate},
		{"POST /api/v1/conversations/{id}/replies", api, auth.Agent, s.apiReply},
		{"POST /api/v1/conversations/{id}/template-replies", api, auth.Agent, s.apiTemplateReply},
		{"POST /api/v1/conversations/{id}/notes", api, auth.Agent, s.apiNote},
		{"GET /api/v1/notifications", api, auth.Viewer, s.apiNotifications},
		{"POST /api/v1/notifications/read", api, auth.Viewer, s.apiNotificationsRead},
		{"GET /api/v1/contacts", api, auth.Viewer, s.apiContacts},
		{"POST /api/v1/contacts", api, auth.Agent, s.apiContactCreate},
		{"GET /api/v1/contacts/{id}", api, auth.Viewer, s.apiContact},
		{"PATCH /api/v1/contacts/{id}", api, auth.Agent, s.apiContactUpdate},
		{"DELETE /api/v1/contacts/{id}", api, auth.Admin, s.apiContactDelete},
		{"POST /api/v1/contacts/{id}/consent", api, auth.Agent, s.apiContactConsent},
		{"POST /api/v1/contacts/{id}/notes", api, auth.Agent, s.apiContactNote},
		{"GET /api/v1/companies", api, auth.Viewer, s.apiCompanies},
		{"GET /api/v1/companies/{id}", api, auth.Viewer, s.apiCompany},
		{"PATCH /api/v1/companies/{id}", api, auth.Agent, s.apiCompanyUpdate},
		{"DELETE /api/v1/companies/{id}", api, auth.Agent, s.apiCompanyDelete},
		{"GET /api/v1/pipelines", api, auth.Viewer, s.apiPipelines},
		{"POST /api/v1/pipelines", api, auth.Admin, s.apiPipelineCreate},
		{"GET /api/v1/pipelines/{id}/board", api, auth.Viewer, s.apiBoard},
		{"POST /api/v1/deals", api, auth.Agent, s.apiDealCreate},
		{"POST /api/v1/deals/{id}/move", api, auth.Agent, s.apiDealMove},
		{"GET /api/v1/deals/{id}", api, auth.Viewer, s.apiDeal},
		{"PATCH /api/v1/deals/{id}", api, auth.Agent, s.apiDealUpdate},
		{"DELETE /api/v1/deals/{id}", api, auth.Agent, s.apiDealDelete},
		{"GET /api/v1/privacy-requests", api, auth.Admin, s.apiPrivacyRequests},
		{"POST /api/v1/privacy-requests", api, auth.Admin, s.apiPrivacyRequestCreate},
		{"GET /api/v1/privacy-requests/{id}", api, auth.Admin, s.apiPrivacyRequest},
		{"PATCH /api/v1/privacy-requests/{id}", api, auth.Admin, s.apiPrivacyRequestUpdate},
		{"POST /api/v1/privacy-requests/{id}/complete", api, auth.Admin, s.apiPrivacyRequestComplete},
		{"GET /api/v1/privacy-requests/{id}/export", api, auth.Admin, s.requestExport},
		{"GET /api/v1/me", api, auth.Viewer, s.apiMe},
		{"GET /api/v1/users", api, auth.Viewer, s.apiUsers},
		{"GET /api/v1/teams", api, auth.Viewer, s.apiTeams},
		{"GET /api/v1/canned-replies", api, auth.Agent, s.apiCannedReplies},
		{"POST /api/v1/canned-replies", api, auth.Admin, s.apiCannedCreate},
		{"GET /api/v1/audit", api, auth.Admin, s.apiAudit},
		{"POST /api/v1/me/password", api, auth.Viewer, s.apiPasswordChange},
		{"POST /api/v1/me/email", api, auth.Viewer, s.apiMeEmail},
		{"DELETE /api/v1/me/email", api, auth.Viewer, s.apiMeEmailCancel},
		{"GET /api/v1/tokens", api, auth.Viewer, s.apiTokens},
		{"POST /api/v1/tokens", api, auth.Viewer, s.apiTokenCreate},
		{"DELETE /api/v1/tokens/{id}", api, auth.Viewer, s.apiTokenRevoke},
		{"GET /api/v1/exports", api, auth.Owner, s.apiExports},
		{"POST /api/v1/exports", api, auth.Owner, s.apiExportCreate},
		{"GET /api/v1/exports/{id}", api, auth.Owner, s.apiExport},
		{"GET /api/v1/exports/{id}/download", api, auth.Owner, s.apiExportDownload},
	}
}

// beforePasswordChange are the routes a member who must still replace a
// one-time password may use: every other one sends them to /password (pages)
// or answers 403 password_change_required (API, with the session cookie or
// an API token). Static assets are served outside the table, to anyone.
var beforePasswordChange = map[string]bool{
	"GET /password":            true,
	"POST /password":           true,
	"POST /logout":             true,
	"POST /api/v1/me/password": true,
}

// Body limits, applied before anything reads the body: sign-in and other
// public forms are small, signed-in forms a little larger, and the contacts
// import and a reply with files (email.MaxOutboundBytes, and the form
// around them) take files. JSON API handlers set their own (readJSON).
const (
	publicFormBody = 16 << 10
	pageFormBody   = 256 << 10
	importBody     = 11 << 20
	replyBody      = 10<<20 + 512<<10
)

func bodyLimit(rt route) int64 {
	switch {
	case rt.pattern == "POST /contacts/import":
		return importBody
	case rt.pattern == "POST /inbox/conversations/{id}/reply":
		return replyBody
	case rt.kind == public:
		return publicFormBody
	case rt.kind == page:
		return pageFormBody
	}
	return MaxRequestBody
}

func (s *Server) routes() {
	for _, rt := range s.table() {
		s.mux.Handle(rt.pattern, s.metrics.observe(rt.pattern, s.wrap(rt, bodyLimit(rt))))
	}
	s.mux.Handle("GET /static/", s.static)
	if s.Webhooks != nil {
		// Providers sign what they send; nothing here has a session, so the
		// handler is outside the table (no CSRF check, no sign-in). It
		// limits bodies itself, to adapter.MaxWebhookBody.
		s.mux.Handle("/webhooks/", s.metrics.observe("/webhooks/{type}/{name}", s.Webhooks))
	}
	s.mux.Handle("GET /metrics", scrapersOnly(s.metrics.handler))
}

// scrapersOnly serves /metrics to in-cluster scrapers, which reach the pod
// directly, and not to requests that came through the workspace's ingress:
// an ingress proxy marks what it forwards with X-Forwarded-* (or Forwarded)
// headers, which a client outside cannot remove. It does not ask whether
// the peer is a trusted proxy (Options.TrustedProxies): that list is often
// the whole pod network, where the scrapers are too, and a forwarded
// request is refused here whoever forwarded it.
func scrapersOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded"} {
			if r.Header.Get(k) != "" {
				http.NotFound(w, r)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
