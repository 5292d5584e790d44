// Stand-in: xnu bsd/netinet/tcp.h, the options and the structure the
// platform core uses (values and field order as in xnu).
#pragma once

#include <sys/types.h>

#include <cstdint>

#define TCP_KEEPALIVE 0x10        // "idle time used when SO_KEEPALIVE is enabled"
#define TCP_RXT_CONNDROPTIME 0x80 // "time after which tcp retransmissions will be stopped"
#define TCP_KEEPINTVL 0x101       // "interval between keepalives"
#define TCP_KEEPCNT 0x102         // "number of keepalives before close"
#define TCP_CONNECTION_INFO 0x106 // "State of TCP connection"

struct tcp_connection_info
{
    std::uint8_t tcpi_state;      // connection state
    std::uint8_t tcpi_snd_wscale; // Window scale for send window
    std::uint8_t tcpi_rcv_wscale; // Window scale for receive window
    std::uint8_t __pad1;
    std::uint32_t tcpi_options;      // TCP options supported
    std::uint32_t tcpi_flags;        // flags
    std::uint32_t tcpi_rto;          // retransmit timeout in ms
    std::uint32_t tcpi_maxseg;       // maximum segment size supported
    std::uint32_t tcpi_snd_ssthresh; // slow start threshold in bytes
    std::uint32_t tcpi_snd_cwnd;     // send congestion window in bytes
    std::uint32_t tcpi_snd_wnd;      // send window in bytes
    std::uint32_t tcpi_snd_sbbytes;  // bytes in send socket buffer, including in-flight data
    std::uint32_t tcpi_rcv_wnd;      // receive window in bytes
    std::uint32_t tcpi_rttcur;       // most recent RTT in ms
    std::uint32_t tcpi_srtt;         // average RTT in ms
    std::uint32_t tcpi_rttvar;       // RTT variance
    std::uint32_t tcpi_tfo_bits;     // tcpi_tfo_cookie_req:1 ... __pad2:17 (bit-fields in xnu)
    std::uint64_t tcpi_txpackets __attribute__((aligned(8)));
    std::uint64_t tcpi_txbytes __attribute__((aligned(8)));
    std::uint64_t tcpi_txretransmitbytes __attribute__((aligned(8)));
    std::uint64_t tcpi_rxpackets __attribute__((aligned(8)));
    std::uint64_t tcpi_rxbytes __attribute__((aligned(8)));
    std::uint64_t tcpi_rxoutoforderbytes __attribute__((aligned(8)));
    std::uint64_t tcpi_txretransmitpackets __attribute__((aligned(8)));
};
