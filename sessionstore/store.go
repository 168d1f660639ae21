// Package sessionstore keeps Sessions and enforces the single-use rule of their tickets.
//
// The Store interface has two implementations that pass the same contract tests
// (sessionstore/storetest): sessionstore/kube keeps Sessions as Kubernetes objects and claims a
// ticket with a status update conditioned on resourceVersion, so two proxy replicas racing for one
// ticket produce exactly one winner; sessionstore/embedded keeps them in a journal file for
// standalone mode. Both apply the same rules, written once in Decide.
package sessionstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// ReuseWindow is how long after the first claim the same client address may present the ticket
// again (clients such as mstsc open a second connection for one launch).
const ReuseWindow = 10 * time.Second

// Errors of the store. Claim's refusals are distinct so that logs, metrics and the Session say why.
var (
	ErrNotFound    = errors.New("no such session")
	ErrExists      = errors.New("session already exists")
	ErrForged      = errors.New("ticket's secret part does not match its session")
	ErrExpired     = errors.New("ticket has expired")
	ErrAlreadyUsed = errors.New("ticket was already used")
)

// ClaimRequest says who presents a ticket.
type ClaimRequest struct {
	// ClientAddress is the RDP client's IP address (without port).
	ClientAddress string
	// Proxy names the proxy (pod) that claims.
	Proxy string
}

// Store keeps Sessions. All methods are safe for concurrent use.
type Store interface {
	// Create stores a new Session; its name is its ticket's ID. ErrExists when the name is taken.
	Create(ctx context.Context, s *v1alpha1.Session) error
	// Get returns a copy of a Session, or ErrNotFound.
	Get(ctx context.Context, name string) (*v1alpha1.Session, error)
	// List returns copies of every Session.
	List(ctx context.Context) ([]v1alpha1.Session, error)
	// Claim atomically accepts a ticket once (see Decide) and returns the Session it opens.
	// reused is true for a repeat from the same client inside the ReuseWindow.
	Claim(ctx context.Context, t ticket.Ticket, req ClaimRequest) (s *v1alpha1.Session, reused bool, err error)
	// UpdateStatus applies mutate to the latest status, retrying on conflicting writes.
	UpdateStatus(ctx context.Context, name string, mutate func(*v1alpha1.SessionStatus) error) (*v1alpha1.Session, error)
	// Delete removes a Session; deleting a missing one is not an error.
	Delete(ctx context.Context, name string) error
}

// Decision is what a claim does to a Session.
type Decision struct {
	// Err is nil when the claim is granted, else one of the Err* refusals.
	Err error
	// Reused is true when a repeat inside the reuse window is granted.
	Reused bool
	// Write is true when the Session's status changed and must be stored.
	Write bool
}

// Decide applies the single-use rules to s (which it mutates) for a claim of t at now.
//
// Refusals are counted in status.rejectedAttempts and described in status.lastRejection; they
// do not change the phase's reason, so a finished session keeps saying why it finished.
//
//   - A ticket whose secret part does not match is forged: refused, counted.
//   - An unused ticket past its expiry: the Session becomes Expired, refused.
//   - An unused ticket in time: the Session becomes Connecting, claimed by req. Granted.
//   - A used ticket from the same client address within ReuseWindow of the claim: granted, unchanged.
//   - Anything else: refused as already used (or expired), counted.
func Decide(s *v1alpha1.Session, t ticket.Ticket, req ClaimRequest, now time.Time) Decision {
	st := &s.Status
	reject := func(err error, reason, message string) Decision {
		st.RejectedAttempts++
		st.LastRejection = &v1alpha1.Rejection{Reason: reason, Message: message, At: metav1.NewTime(now), ClientAddress: req.ClientAddress}
		return Decision{Err: err, Write: true}
	}
	if !t.Matches(s.Spec.TicketHash) {
		return reject(ErrForged, v1alpha1.ReasonTicketForged,
			fmt.Sprintf("a ticket naming this session with a wrong secret part came from %s", req.ClientAddress))
	}
	phase := s.EffectivePhase()
	switch {
	case phase == v1alpha1.SessionIssued && !now.Before(s.Spec.ExpiresAt.Time):
		st.Phase = v1alpha1.SessionExpired
		st.Reason = v1alpha1.ReasonTicketExpired
		st.Message = fmt.Sprintf("the ticket expired at %s and was presented at %s from %s",
			s.Spec.ExpiresAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), req.ClientAddress)
		ended := metav1.NewTime(now)
		st.EndedAt = &ended
		return reject(ErrExpired, v1alpha1.ReasonTicketExpired, st.Message)
	case phase == v1alpha1.SessionIssued:
		claimed := metav1.NewTime(now)
		st.Phase = v1alpha1.SessionConnecting
		st.ClaimedAt = &claimed
		st.ClientAddress = req.ClientAddress
		st.ProxyName = req.Proxy
		st.Reason, st.Message = "Claimed", "the ticket was accepted"
		return Decision{Write: true}
	case phase == v1alpha1.SessionExpired:
		return reject(ErrExpired, v1alpha1.ReasonTicketExpired,
			fmt.Sprintf("the expired ticket was presented again from %s", req.ClientAddress))
	case (phase == v1alpha1.SessionConnecting || phase == v1alpha1.SessionActive) &&
		st.ClaimedAt != nil && st.ClientAddress == req.ClientAddress && now.Sub(st.ClaimedAt.Time) <= ReuseWindow:
		return Decision{Reused: true}
	default:
		return reject(ErrAlreadyUsed, v1alpha1.ReasonTicketReused,
			fmt.Sprintf("the ticket, first used by %s at %s, was presented again from %s",
				st.ClientAddress, claimedAtText(st), req.ClientAddress))
	}
}

func claimedAtText(st *v1alpha1.SessionStatus) string {
	if st.ClaimedAt == nil {
		return "an unknown time"
	}
	return st.ClaimedAt.UTC().Format(time.RFC3339)
}

// RejectReason names a Claim error for logs and metrics: "unknown", "forged", "expired",
// "reused", or "error" for anything else.
func RejectReason(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "unknown"
	case errors.Is(err, ErrForged):
		return "forged"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrAlreadyUsed):
		return "reused"
	default:
		return "error"
	}
}

// Validate checks a Session before it is created.
func Validate(s *v1alpha1.Session) error {
	switch {
	case !ticket.ValidID(s.Name):
		return fmt.Errorf("session name %q is not a ticket id", s.Name)
	case len(s.Spec.TicketHash) != 64:
		return errors.New("session has no ticket hash")
	case s.Spec.ExpiresAt.IsZero():
		return errors.New("session has no expiry")
	}
	return nil
}
