package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/rdp/credssp"
	"github.com/sessionconnector/sessionconnector/rdp/gcc"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/ntlm"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

// channels is what the proxy learnt about the session's MCS channels.
type channels struct {
	io      uint16
	blocked map[uint16]string // channel id → name, for channels the launcher's policy forbids
}

// blockedChannel says whether a channel name is forbidden by policy. Channels stay in the
// negotiation (so the client's and the target's channel numbering agree) but carry nothing.
func blockedChannel(name string, p v1alpha1.ChannelPolicy) bool {
	switch strings.ToLower(name) {
	case gcc.ChannelClipboard:
		return !p.Clipboard
	case gcc.ChannelDevices:
		return !p.Drives && !p.Printers
	case gcc.ChannelSound:
		return !p.Audio
	}
	return false
}

// connectSequence relays the MCS Connect Initial (serverSelectedProtocol set to what the target
// chose) and the Connect Response (clientRequestedProtocols restored to what the client asked),
// and learns the channel ids.
func (c *connection) connectSequence(_ context.Context, client *tls.Conn, t *target, req *x224.ConnectionRequest) (*channels, error) {
	frame, err := tpkt.ReadFrame(client, c.s.cfg.MaxPDUSize)
	if err != nil {
		return nil, reject("client_protocol", ReasonClientFailed, "no MCS Connect Initial from the client", err)
	}
	var names []string
	frame, err = mcs.RewriteConnectInitial(frame, func(d *gcc.ClientData) error {
		core, err := d.Core()
		if err != nil {
			return err
		}
		core.SetServerSelectedProtocol(t.selectedProtocol)
		if t.recorded && core.HasEarlyCapabilityFlags() {
			// No GFX pipeline for recorded sessions: its codecs cannot be rendered offline.
			core.SetEarlyCapabilityFlags(core.EarlyCapabilityFlags &^ gcc.CSEarlyCapSupportDynVCGFXProtocol)
		}
		if err := d.SetCore(core); err != nil {
			return err
		}
		network, err := d.Network()
		if errors.Is(err, gcc.ErrNoBlock) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, ch := range network.Channels {
			names = append(names, ch.NameString())
		}
		return nil
	})
	if err != nil {
		return nil, reject("client_protocol", ReasonProtocolError, "malformed MCS Connect Initial from the client", err)
	}
	if _, err := t.conn.Write(frame); err != nil {
		return nil, reject("target_gone", ReasonTargetRefused, "the target closed the connection", err)
	}

	frame, err = tpkt.ReadFrame(t.conn, c.s.cfg.MaxPDUSize)
	if err != nil {
		return nil, reject("target_protocol", ReasonTargetRefused, "no MCS Connect Response from the target", err)
	}
	ch := &channels{blocked: map[uint16]string{}}
	frame, err = mcs.RewriteConnectResponse(frame, func(d *gcc.ServerData) error {
		core, err := d.Core()
		if err != nil {
			return err
		}
		core.SetClientRequestedProtocols(req.Neg.RequestedProtocols)
		if err := d.SetCore(core); err != nil {
			return err
		}
		network, err := d.Network()
		if err != nil {
			return err
		}
		ch.io = network.MCSChannelID
		for i, id := range network.ChannelIDs {
			if i < len(names) && blockedChannel(names[i], t.launcher.Spec.Channels) {
				ch.blocked[id] = names[i]
			}
		}
		return nil
	})
	if err != nil {
		return nil, reject("target_protocol", ReasonProtocolError, "malformed MCS Connect Response from the target", err)
	}
	if _, err := client.Write(frame); err != nil {
		return nil, reject("client_gone", ReasonClientFailed, "the client went away", err)
	}
	return ch, nil
}

// rewriteClientInfo puts the secret's credentials into a Client Info PDU (in an MCS Send Data
// Request frame) and asks for autologon. When the session is recorded it also returns the frame
// to record: the same PDU without the password, which must never reach a recording.
func rewriteClientInfo(frame []byte, creds *credentials, recorded bool) (out, forRecording []byte, err error) {
	_, p, err := mcs.ReadPDU(frame)
	if err != nil {
		return nil, nil, err
	}
	sdr, ok := p.(*mcs.SendDataRequest)
	if !ok {
		return nil, nil, fmt.Errorf("not a Send Data Request")
	}
	sec, info, err := pdu.ParseClientInfoPDU(sdr.Data)
	if err != nil {
		return nil, nil, err
	}
	defer info.ZeroPassword()
	if err := info.SetDomain(creds.domain); err != nil {
		return nil, nil, err
	}
	if err := info.SetUserName(creds.user); err != nil {
		return nil, nil, err
	}
	info.SetAutologon(true)
	if recorded {
		info.DisableCompression() // bulk-compressed output cannot be decoded from the recording
		if err := info.SetPasswordUTF8(nil); err != nil {
			return nil, nil, err
		}
		body, err := info.MarshalPDU(sec)
		if err != nil {
			return nil, nil, err
		}
		sdr.Data = body
		if forRecording, err = sdr.Marshal(); err != nil {
			return nil, nil, err
		}
	}
	if err := info.SetPasswordUTF8(creds.password); err != nil {
		return nil, nil, err
	}
	body, err := info.MarshalPDU(sec)
	if err != nil {
		return nil, nil, err
	}
	defer clear(body)
	sdr.Data = body
	if out, err = sdr.Marshal(); err != nil {
		return nil, nil, err
	}
	return out, forRecording, nil
}

// authenticateNLA runs CredSSP (NTLMv2) with the target over its TLS connection.
func authenticateNLA(ctx context.Context, conn *tls.Conn, host string, creds *credentials) error {
	pub, err := credssp.PublicKeyFromTLS(conn.ConnectionState())
	if err != nil {
		return reject("target_tls", ReasonTargetTLS, "the target's TLS certificate has no usable public key", err)
	}
	err = credssp.Authenticate(ctx, conn, pub,
		ntlm.Credentials{Domain: creds.domain, User: creds.user, Password: string(creds.password)},
		&credssp.Options{TargetName: "TERMSRV/" + host})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, credssp.ErrAuthFailed):
		return reject("target_auth", ReasonTargetAuth, "the target refused the secret's credentials (NLA)", err)
	case errors.Is(err, credssp.ErrBinding):
		return reject("target_auth", ReasonTargetTLS, "the target's NLA answer does not match its TLS key (a man in the middle?)", err)
	default:
		return reject("target_auth", ReasonTargetAuth, "NLA with the target failed", err)
	}
}

// rewriteConfirmActive restricts the client's capabilities so that the target sends graphics the
// recording can be rendered from: no drawing orders, no bitmap codecs, no surface commands.
func rewriteConfirmActive(frame []byte) ([]byte, error) {
	_, p, err := mcs.ReadPDU(frame)
	if err != nil {
		return nil, err
	}
	sdr, ok := p.(*mcs.SendDataRequest)
	if !ok {
		return nil, fmt.Errorf("not a Send Data Request")
	}
	ca, err := pdu.ParseConfirmActive(sdr.Data)
	if err != nil {
		return nil, err
	}
	if _, err := ca.RestrictForRecording(); err != nil {
		return nil, err
	}
	body, err := ca.Marshal()
	if err != nil {
		return nil, err
	}
	sdr.Data = body
	return sdr.Marshal()
}
