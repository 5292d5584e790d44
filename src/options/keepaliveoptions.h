// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "qtkeepalive_global.h"

#include <QtCore/QMetaType>
#include <QtCore/QString>
#include <QtCore/qobjectdefs.h>

#include <chrono>

QT_BEGIN_NAMESPACE
    class QDebug;
QT_END_NAMESPACE

/*!
    \class KeepAliveOptions
    \brief Per-connection TCP keepalive settings: a copyable, comparable value.

    A silently dead peer is declared dead after \e idle without traffic plus
    \e probeCount unanswered probes sent \e interval apart. The \e user
    timeout (Linux \c TCP_USER_TIMEOUT, Windows \c TCP_MAXRT, macOS
    \c TCP_RXT_CONNDROPTIME) bounds how long sent data may stay
    unacknowledged; by default it is \e automatic, i.e. equal to
    idle + interval × probeCount, so that a busy connection is bounded just
    like an idle one.

    \code
    using namespace std::chrono_literals;
    socket->setKeepAliveOptions(KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3));
    \endcode

    The defaults are: enabled, idle 60 s, interval 10 s, 3 probes, automatic
    user timeout (detection bound 90 s).

    Durations are \c std::chrono::milliseconds. Where the running platform
    only takes whole seconds (keepalive idle and interval everywhere, the
    retransmission bound on Windows and macOS), sub-second values are rounded
    \e up, never truncated to zero: 1500 ms becomes 2 s.

    A request only: what the kernel holds is read back as an
    EffectiveKeepAliveOptions (KeepAliveSocket::effectiveKeepAliveOptions()).
*/
class QTKEEPALIVE_EXPORT KeepAliveOptions
{
    Q_GADGET
public:
    //! How the retransmission bound ("user timeout") is chosen.
    enum class UserTimeoutMode {
        Automatic, //!< idle + interval × probeCount while keepalive is enabled, off otherwise
        Explicit,  //!< the value given to setUserTimeout()
        Off //!< no bound: unacknowledged data falls back to the kernel's retransmission policy (~15 min on Linux)
    };
    Q_ENUM(UserTimeoutMode)

    //! The individual settings, for supportedFields() and EffectiveKeepAliveOptions::knownFields().
    enum class Field {
        Enabled = 0x01,
        Idle = 0x02,
        Interval = 0x04,
        ProbeCount = 0x08,
        UserTimeout = 0x10,
    };
    Q_DECLARE_FLAGS(Fields, Field)
    Q_FLAG(Fields)

    //! Constructs the default options (see class description).
    KeepAliveOptions();

    KeepAliveOptions &setEnabled(bool enabled);
    //! Whether the kernel sends keepalive probes (\c SO_KEEPALIVE).
    bool isEnabled() const;

    KeepAliveOptions &setIdle(std::chrono::milliseconds idle);
    //! Time without any traffic before the first probe (\c TCP_KEEPIDLE).
    std::chrono::milliseconds idle() const;

    KeepAliveOptions &setInterval(std::chrono::milliseconds interval);
    //! Time between unanswered probes (\c TCP_KEEPINTVL).
    std::chrono::milliseconds interval() const;

    KeepAliveOptions &setProbeCount(int count);
    //! Unanswered probes before the peer is declared dead (\c TCP_KEEPCNT).
    int probeCount() const;

    /*!
        Sets an explicit retransmission bound; switches the mode to Explicit.

        At least 1 s on every platform; shorter values fail validation. A
        shorter bound cuts off live peers that merely pause reading (zero
        window): on Linux, 200 ms and 500 ms ended a connection whose reader
        paused for 5 s, in spite of KeepAliveSocket's slow-reader guard.
    */
    KeepAliveOptions &setUserTimeout(std::chrono::milliseconds timeout);
    //! Chooses Automatic or Off (or Explicit with the value last given).
    KeepAliveOptions &setUserTimeoutMode(UserTimeoutMode mode);
    UserTimeoutMode userTimeoutMode() const;
    /*!
        The retransmission bound that will be applied: the explicit value,
        idle + interval × probeCount in Automatic mode with keepalive
        enabled, and 0 ms when Off (or Automatic with keepalive disabled).
    */
    std::chrono::milliseconds userTimeout() const;

    /*!
        Worst-case time from the peer's last sign of life until the
        connection is declared dead, idle or with data in flight, with the
        values as the running platform applies them (rounded up to its
        granularity). Returns \c std::chrono::milliseconds::max() when there
        is no bound: keepalive disabled, user timeout Off, options that are
        not valid (see validationError()) or have unknown fields, or no
        per-socket user timeout on the running platform (FreeBSD before 14.0,
        Windows where TCP_MAXRT is refused, the POSIX systems other than
        Linux, macOS and FreeBSD): data in flight then waits for the kernel's
        retransmission limit. Also on macOS, whose TCP_RXT_CONNDROPTIME is not
        checked by the persist timer: a peer that dies behind a zero window
        is not bounded there.
    */
    std::chrono::milliseconds detectionBound() const;
    /*!
        Worst-case time from the peer's last sign of life until an \e idle
        connection (no data in flight) is declared dead: idle + interval ×
        the probes the running platform really sends (its fixed count where
        the count cannot be set: 10 on Windows before 10 1709, the host's
        under Wine), or the first probe tick past the user timeout where one
        is applied and larger, with the values as the platform applies them.
        Unlike detectionBound(), it holds where nothing bounds data in
        flight. Returns \c std::chrono::milliseconds::max() with keepalive
        disabled or options that are not valid.
    */
    std::chrono::milliseconds idleDetectionBound() const;

    /*!
        Returns an empty string when the options can be applied on the running
        platform, otherwise a message naming the field, the value and the
        allowed range, e.g. "probe count 200 is out of range 1..127".
    */
    QString validationError() const;
    bool isValid() const;

    //! The fields the running platform can set per socket.
    static Fields supportedFields();
    //! The fields the running platform can read back from a socket.
    static Fields readableFields();

    friend QTKEEPALIVE_EXPORT bool operator==(const KeepAliveOptions &a, const KeepAliveOptions &b);
    friend bool operator!=(const KeepAliveOptions &a, const KeepAliveOptions &b)
    {
        return !(a == b);
    }

private:
    std::chrono::milliseconds m_idle;
    std::chrono::milliseconds m_interval;
    std::chrono::milliseconds m_userTimeout;
    int m_probeCount;
    UserTimeoutMode m_userTimeoutMode;
    bool m_enabled;
};

Q_DECLARE_OPERATORS_FOR_FLAGS(KeepAliveOptions::Fields)
Q_DECLARE_METATYPE(KeepAliveOptions)

//! Prints e.g. KeepAliveOptions(enabled, idle 10 s, interval 2 s, probes 3, user timeout automatic 16 s).
QTKEEPALIVE_EXPORT QDebug operator<<(QDebug debug, const KeepAliveOptions &options);
