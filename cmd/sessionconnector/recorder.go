package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/spf13/cobra"

	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
)

type storageFlags struct {
	endpoint, bucket, prefix, region, caFile string
}

func newRecorderCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recorder",
		Short: "Work with session recordings in S3-compatible storage",
	}
	cmd.AddCommand(newRecorderVerifyCommand())
	return cmd
}

func newRecorderVerifyCommand() *cobra.Command {
	f := &storageFlags{}
	var session string
	cmd := &cobra.Command{
		Use:   "verify --endpoint URL --bucket NAME --session ID",
		Short: "Check a recording end to end: every chunk, the hash chain and the manifest",
		Long: `verify reads a session's manifest and every chunk it lists from the bucket, checks each
chunk's hash, the hash chain between chunks and that the chunks are the manifest's. A bad
recording fails with the number of the first wrong chunk. Credentials come from
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := f.client()
			if err != nil {
				return err
			}
			rep, err := storage.Verify(cmd.Context(), client, f.bucket, f.prefix, session)
			if err != nil {
				return fmt.Errorf("recording %s does not verify: %w", session, err)
			}
			m := rep.Manifest
			state := "complete"
			if !m.Complete {
				state = "interrupted"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "recording %s verifies: %d chunks, %d records, %s, %s to %s, user %s, target %s\n",
				session, rep.Chunks, rep.Records, state, m.Start.UTC().Format("2006-01-02T15:04:05Z"), m.End.UTC().Format("2006-01-02T15:04:05Z"), m.User, m.Target)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.endpoint, "endpoint", "", "S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com (required)")
	fl.StringVar(&f.bucket, "bucket", "", "bucket (required)")
	fl.StringVar(&f.prefix, "prefix", "", "prefix of the recordings in the bucket")
	fl.StringVar(&f.region, "region", "", "region of the bucket")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM bundle that signs the endpoint's certificate")
	fl.StringVar(&session, "session", "", "session id (required)")
	for _, name := range []string{"endpoint", "bucket", "session"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// client builds a minio-go client from the flags and the AWS_* environment.
func (f *storageFlags) client() (*minio.Client, error) {
	u, err := url.Parse(f.endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("--endpoint %q is not an http(s) URL", f.endpoint)
	}
	access, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if access == "" || secret == "" {
		return nil, errors.New("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	opts := &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Secure: u.Scheme == "https", Region: f.region}
	if f.caFile != "" {
		pemBytes, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := pki.CertPool(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		opts.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return minio.New(u.Host, opts)
}
