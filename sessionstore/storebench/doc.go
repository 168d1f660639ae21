// Package storebench measures ticket issue + claim throughput of every Session store against an
// in-memory baseline measured in the same run (`make bench`).
package storebench
