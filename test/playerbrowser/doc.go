// Package playerbrowser tests the recording player (recorder/player) end to end in real headless
// Chromium: a session recorded by the real proxy (standalone mode, to a fake RDP target that
// draws known pictures) into real MinIO, the launch API serving the page and the recording's
// presigned URLs after the Secret Server emulator authorised the user, and the page playing it
// with the player compiled to WebAssembly.
//
// The test needs Chromium (Debian package chromium, or SC_CHROMIUM) and MinIO
// (hack/minio/build.sh); without them it skips, unless SC_REQUIRE_PEERS=1 (then it fails). It
// builds the player with the go command, or takes it from SC_PLAYER_DIR. It skips in -short mode
// unless SC_REQUIRE_PEERS=1.
package playerbrowser
