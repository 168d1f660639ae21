// Package fakerdp is an RDP target and an RDP client written on the project's rdp packages,
// for proxy unit tests and load tests.
//
// The Target negotiates TLS, answers the MCS connect sequence like xrdp, records the
// credentials of the Client Info PDU (checking the password with pdu.ClientInfo.PasswordEqual,
// never keeping it), sends a Demand Active PDU, and from then on echoes every PDU back unchanged,
// which makes throughput and latency through a proxy measurable. The Client runs the client side
// of the same sequence with a ticket in its routing token and then sends and receives raw PDUs.
// A Lab puts a real proxy.Server, the Secret Server emulator and an embedded Session store in
// front of a Target.
//
// Neither side implements more of RDP than the connection sequence: no licensing, no capability
// exchange beyond the Demand Active, no graphics.
package fakerdp
