// Package kubescheme builds the runtime.Scheme every Kubernetes client of the project uses: the
// built-in types and sessionconnector.io/v1alpha1.
package kubescheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
)

// New returns a new scheme.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registrations; they fail only on a programming error
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
