package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/secmon-go/secmon"
	"github.com/secmon-go/secmon/guard"
)

// blockJSON is a block as the admin API shows it.
type blockJSON struct {
	ID       string     `json:"id"`
	Scope    string     `json:"scope"`
	Subject  string     `json:"subject"`
	Reason   string     `json:"reason,omitempty"`
	Rule     string     `json:"rule,omitempty"`
	Origin   string     `json:"origin"`
	Level    int        `json:"level"`
	Created  time.Time  `json:"created"`
	Until    *time.Time `json:"until,omitempty"` // absent: until lifted
	By       string     `json:"by"`
	LiftedAt *time.Time `json:"lifted_at,omitempty"`
	LiftedBy string     `json:"lifted_by,omitempty"`
}

func toBlockJSON(b secmon.Block) blockJSON {
	out := blockJSON{ID: b.ID.String(), Scope: string(b.Scope), Subject: b.Subject, Reason: b.Reason, Rule: string(b.Rule),
		Origin: string(b.Origin), Level: b.Level, Created: b.Created, By: b.By, LiftedBy: b.LiftedBy}
	if !b.Until.IsZero() {
		u := b.Until
		out.Until = &u
	}
	if !b.LiftedAt.IsZero() {
		l := b.LiftedAt
		out.LiftedAt = &l
	}
	return out
}

// adminBlocks lists blocks, newest first: GET /admin/api/blocks?active=1
// (only those in force), &scope=ip|prefix|user, &subject=…, &limit=N.
func (a *app) adminBlocks(w http.ResponseWriter, r *http.Request) {
	q := secmon.BlockQuery{Scope: secmon.BlockScope(r.URL.Query().Get("scope")), Subject: r.URL.Query().Get("subject")}
	if r.URL.Query().Get("active") == "1" {
		q.EndsAfter = time.Now()
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil {
		q.Limit = n
	}
	list, err := a.guard.List(r.Context(), q)
	switch {
	case errors.Is(err, secmon.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad query"})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "store unavailable"})
		return
	}
	out := make([]blockJSON, len(list))
	for i, b := range list {
		out[i] = toBlockJSON(b)
	}
	writeJSON(w, http.StatusOK, out)
}

// adminAddBlock adds a manual block: POST /admin/api/blocks with JSON
// {"ip": "203.0.113.7"} or {"prefix": "198.51.100.0/24"} or {"user": "bob"},
// plus "reason", "by" (the operator) and "duration_s" (0 or absent: until
// lifted). 201 with the block; 400 for a bad request; 409 when the subject
// is allowlisted.
func (a *app) adminAddBlock(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IP        string `json:"ip"`
		Prefix    string `json:"prefix"`
		User      string `json:"user"`
		Reason    string `json:"reason"`
		By        string `json:"by"`
		DurationS int64  `json:"duration_s"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad json"})
		return
	}
	b := secmon.Block{UserID: body.User, Reason: body.Reason, By: body.By}
	if b.By == "" {
		b.By = "admin-api"
	}
	switch {
	case body.IP != "":
		ip, err := netip.ParseAddr(body.IP)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad ip"})
			return
		}
		b.Prefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
	case body.Prefix != "":
		p, err := netip.ParsePrefix(body.Prefix)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad prefix"})
			return
		}
		b.Prefix = p
	}
	if body.DurationS < 0 || body.DurationS > int64(10*365*24*time.Hour/time.Second) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad duration_s"})
		return
	}
	if body.DurationS > 0 {
		b.Until = time.Now().Add(time.Duration(body.DurationS) * time.Second)
	}
	got, err := a.guard.Block(r.Context(), b)
	switch {
	case errors.Is(err, guard.ErrAllowlisted):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
	case errors.Is(err, secmon.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case errors.Is(err, guard.ErrCapacity):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many blocks"})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "block failed"})
	default:
		writeJSON(w, http.StatusCreated, toBlockJSON(got))
	}
}

// adminLiftBlock lifts a block: DELETE /admin/api/blocks/{id}?by=operator.
// 204, or 404 for an unknown block.
func (a *app) adminLiftBlock(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad id"})
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "admin-api"
	}
	switch err := a.guard.Lift(r.Context(), id, by); {
	case errors.Is(err, secmon.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such block"})
	case errors.Is(err, secmon.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "lift failed"})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// adminGuard shows the guard's counters: GET /admin/api/guard.
func (a *app) adminGuard(w http.ResponseWriter, _ *http.Request) {
	s := a.guard.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"checks": s.Checks, "refusals": s.Refusals, "list_refusals": s.ListRefusals, "allowlist_exempt": s.AllowlistExempt,
		"blocks_active": s.BlocksActive, "blocks_decided": s.BlocksDecided, "blocks_manual": s.BlocksManual, "blocks_lifted": s.BlocksLifted,
		"refused_allowlist": s.RefusedAllowlist, "refused_capacity": s.RefusedCapacity, "would_block": s.WouldBlock,
		"pending_writes": s.PendingWrites, "write_errors": s.WriteErrors, "sync_errors": s.SyncErrors, "resyncs": s.Resyncs,
		"last_sync": s.LastSync, "last_sync_lag_ms": float64(s.LastSyncLag.Microseconds()) / 1000,
		"list_prefixes": s.ListPrefixes, "lists": s.Lists, "access_events": s.AccessEvents, "access_folded": s.AccessFolded,
	})
}
