// Package kube is the Session store of a cluster: Sessions are Kubernetes objects in one namespace.
// A claim is a status update that carries the resourceVersion it read, so when proxy replicas race
// for one ticket the API server lets exactly one write through; the others re-read and are refused.
package kube

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// FieldOwner names this store's writes.
const FieldOwner = "sessionconnector-proxy"

// Options tune a Store.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Store keeps Sessions in a namespace.
type Store struct {
	c         client.Client
	namespace string
	now       func() time.Time
}

var _ sessionstore.Store = (*Store)(nil)

// New returns a store on c. c must read from the API server directly (not from an informer
// cache), or a claim could be decided on stale data and refused by the conflict check needlessly.
func New(c client.Client, namespace string, opts Options) *Store {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{c: c, namespace: namespace, now: opts.Now}
}

func (s *Store) key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: s.namespace, Name: name}
}

// Create implements sessionstore.Store. The status (phase Issued) is written right after the object.
func (s *Store) Create(ctx context.Context, sess *v1alpha1.Session) error {
	if err := sessionstore.Validate(sess); err != nil {
		return err
	}
	obj := sess.DeepCopy()
	obj.Namespace = s.namespace
	status := obj.Status
	if status.Phase == "" {
		status.Phase = v1alpha1.SessionIssued
	}
	if err := s.c.Create(ctx, obj, client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("%w: %s", sessionstore.ErrExists, sess.Name)
		}
		return fmt.Errorf("create session %s: %w", sess.Name, err)
	}
	obj.Status = status
	// A Session without a phase counts as Issued, so a failure here loses nothing.
	if err := s.c.Status().Update(ctx, obj, client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("set status of session %s: %w", sess.Name, err)
	}
	obj.DeepCopyInto(sess)
	return nil
}

// Get implements sessionstore.Store.
func (s *Store) Get(ctx context.Context, name string) (*v1alpha1.Session, error) {
	if !ticket.ValidID(name) {
		return nil, fmt.Errorf("%w: %s", sessionstore.ErrNotFound, name)
	}
	var obj v1alpha1.Session
	if err := s.c.Get(ctx, s.key(name), &obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", sessionstore.ErrNotFound, name)
		}
		return nil, fmt.Errorf("get session %s: %w", name, err)
	}
	return &obj, nil
}

// List implements sessionstore.Store.
func (s *Store) List(ctx context.Context) ([]v1alpha1.Session, error) {
	var list v1alpha1.SessionList
	if err := s.c.List(ctx, &list, client.InNamespace(s.namespace)); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return list.Items, nil
}

// claimBackoff gives racing claims room to settle: every refused racer also writes (it counts
// the refusal), so with many replicas a claim may meet several conflicts in a row.
func claimBackoff() wait.Backoff {
	return wait.Backoff{Steps: 30, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 0.5, Cap: 500 * time.Millisecond}
}

// Claim implements sessionstore.Store.
func (s *Store) Claim(ctx context.Context, t ticket.Ticket, req sessionstore.ClaimRequest) (*v1alpha1.Session, bool, error) {
	var decided sessionstore.Decision
	var result *v1alpha1.Session
	err := retry.RetryOnConflict(claimBackoff(), func() error {
		obj, err := s.Get(ctx, t.ID)
		if err != nil {
			return err
		}
		decided = sessionstore.Decide(obj, t, req, s.now())
		result = obj
		if !decided.Write {
			return nil
		}
		// The object carries the resourceVersion it was read at: a concurrent claim makes this a conflict.
		return s.c.Status().Update(ctx, obj, client.FieldOwner(FieldOwner))
	})
	if err != nil {
		if apierrors.IsConflict(err) {
			return nil, false, fmt.Errorf("claim session %s: still conflicting after retries: %w", t.ID, err)
		}
		return nil, false, fmt.Errorf("claim session %s: %w", t.ID, err)
	}
	if decided.Err != nil {
		return nil, false, fmt.Errorf("%w: %s", decided.Err, t.ID)
	}
	return result, decided.Reused, nil
}

// UpdateStatus implements sessionstore.Store.
func (s *Store) UpdateStatus(ctx context.Context, name string, mutate func(*v1alpha1.SessionStatus) error) (*v1alpha1.Session, error) {
	var result *v1alpha1.Session
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := s.Get(ctx, name)
		if err != nil {
			return err
		}
		if err := mutate(&obj.Status); err != nil {
			return err
		}
		result = obj
		return s.c.Status().Update(ctx, obj, client.FieldOwner(FieldOwner))
	})
	if err != nil {
		return nil, fmt.Errorf("update status of session %s: %w", name, err)
	}
	return result, nil
}

// Delete implements sessionstore.Store.
func (s *Store) Delete(ctx context.Context, name string) error {
	obj := &v1alpha1.Session{}
	obj.Namespace, obj.Name = s.namespace, name
	if err := s.c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete session %s: %w", name, err)
	}
	return nil
}
