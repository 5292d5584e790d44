// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "qtkeepalive_global.h"

#include <QtCore/QMetaType>
#include <QtCore/qobjectdefs.h>

#include <chrono>
#include <optional>

QT_BEGIN_NAMESPACE
    class QDebug;
QT_END_NAMESPACE

/*!
    \class ConnectionHealth
    \brief A snapshot of the kernel's view of one TCP connection
    (Linux \c TCP_INFO), as returned by KeepAliveSocket::connectionHealth().

    Every figure is a \c std::optional: it is empty where the running
    platform does not report it, or when there is no connection. Nothing is
    estimated by the library.
*/
class QTKEEPALIVE_EXPORT ConnectionHealth
{
    Q_GADGET
public:
    //! The kernel's TCP state machine state.
    enum class TcpState {
        Unknown,
        Established,
        SynSent,
        SynReceived,
        FinWait1,
        FinWait2,
        TimeWait,
        Closed,
        CloseWait,
        LastAck,
        Listen,
        Closing,
    };
    Q_ENUM(TcpState)

    //! True when a snapshot was taken (a connection exists and the platform reports one).
    bool isValid() const { return state != TcpState::Unknown; }

    TcpState state = TcpState::Unknown;
    //! Smoothed round-trip time.
    std::optional<std::chrono::microseconds> rtt;
    //! Round-trip time variance (mean deviation).
    std::optional<std::chrono::microseconds> rttVariance;
    //! Current retransmission timeout (RTO), backoff included.
    std::optional<std::chrono::microseconds> retransmissionTimeout;
    //! Consecutive retransmissions of the oldest unacknowledged segment (resets when acknowledged).
    std::optional<int> retransmits;
    //! Retransmitted segments over the connection's life.
    std::optional<quint32> totalRetransmits;
    //! Unanswered keepalive or zero-window probes sent so far.
    std::optional<int> probes;
    //! Exponential backoff steps of the retransmission or zero-window probe timer.
    std::optional<int> backoff;
    //! Sent segments not yet acknowledged.
    std::optional<quint32> unackedSegments;
    //! Bytes queued in the kernel that have not been sent yet.
    std::optional<quint32> notSentBytes;
    //! Time since the last data segment was received.
    std::optional<std::chrono::milliseconds> sinceLastDataReceived;
    //! Time since the last data segment was sent.
    std::optional<std::chrono::milliseconds> sinceLastDataSent;
    //! Time since the last acknowledgement (of anything, probes included) was received.
    std::optional<std::chrono::milliseconds> sinceLastAckReceived;
};

Q_DECLARE_METATYPE(ConnectionHealth)

QTKEEPALIVE_EXPORT QDebug operator<<(QDebug debug, const ConnectionHealth &health);
