package pdu_test

import (
	"fmt"
	"os"

	"github.com/sessionconnector/sessionconnector/rdp/pdu"
)

// The proxy's rewrite of the Client Info PDU: the user data of the client's MCS Send Data
// Request on the I/O channel goes in, the user data to relay to the target comes out.
func ExampleParseClientInfoPDU() {
	userData, err := os.ReadFile("testdata/golden/freerdp-xrdp-tls.clientinfo.bin")
	if err != nil {
		fmt.Println(err)
		return
	}
	sec, ci, err := pdu.ParseClientInfoPDU(userData)
	if err != nil {
		fmt.Println(err)
		return
	}
	clear(userData) // it holds the client's password
	defer ci.ZeroPassword()

	for _, err := range []error{ci.SetDomain("LAB"), ci.SetUserName("svc-app"), ci.SetPassword("from-the-vault")} {
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	ci.SetAutologon(true)
	ci.DisableCompression() // recorded session: no bulk compression
	out, err := ci.MarshalPDU(sec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer clear(out) // after relaying it
	fmt.Println(ci)
	// Output:
	// ClientInfo{CodePage:0 Flags:0x000b417b Domain:"LAB" UserName:"svc-app" Password:<redacted> AlternateShell:"" WorkingDir:"" Extended:{ClientAddressFamily:0x0002 ClientAddress:"127.0.0.1" ClientDir:"C:\\Windows\\System32\\mstscax.dll" Present:4 ClientSessionID:0 PerformanceFlags:0x00000180 AutoReconnectCookie:<empty> Trailing:0 bytes}}
}

// The recording rewrite of the client's Confirm Active.
func ExampleConfirmActive_RestrictForRecording() {
	userData, err := os.ReadFile("testdata/golden/freerdp-xrdp-tls.confirmactive.bin")
	if err != nil {
		fmt.Println(err)
		return
	}
	ca, err := pdu.ParseConfirmActive(userData)
	if err != nil {
		fmt.Println(err)
		return
	}
	changes, err := ca.RestrictForRecording()
	if err != nil {
		fmt.Println(err) // fail closed: do not start a recorded session
		return
	}
	out, err := ca.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n%d -> %d bytes\n", changes, len(userData), len(out))
	// Output:
	// {OrdersDisabled:true BitmapCodecsRemoved:1 SurfaceCommandsDisabled:true SupportLevelsCleared:[]}
	// 535 -> 467 bytes
}
