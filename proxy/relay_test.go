package proxy

import (
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
)

func TestPeekHelpersAgreeWithTheMCSPackage(t *testing.T) {
	for _, size := range []int{10, 200} { // one- and two-byte PER lengths
		body := make([]byte, size)
		(pdu.SecurityHeader{Flags: pdu.SecInfoPkt}).Append(body[:0])
		req := &mcs.SendDataRequest{SendData: mcs.SendData{Initiator: 1007, ChannelID: 1003, Priority: 1, Segmentation: 3, Data: body}}
		frame, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if ch, ok := sendDataChannel(frame, mcsSendDataRequest); !ok || ch != 1003 {
			t.Fatalf("size %d: channel %d %v", size, ch, ok)
		}
		if _, ok := sendDataChannel(frame, mcsSendDataInd); ok {
			t.Fatal("a request was taken for an indication")
		}
		if !isClientInfo(frame) {
			t.Fatalf("size %d: the Client Info was not recognised", size)
		}
		body[0] = 0
		frame, _ = req.Marshal()
		if isClientInfo(frame) {
			t.Fatalf("size %d: a PDU without SEC_INFO_PKT was taken for Client Info", size)
		}
	}
}
