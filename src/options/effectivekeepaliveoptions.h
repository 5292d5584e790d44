// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "keepaliveoptions.h"
#include "qtkeepalive_global.h"

#include <QtCore/QMetaType>

#include <chrono>
#include <optional>

QT_BEGIN_NAMESPACE
    class QDebug;
QT_END_NAMESPACE

/*!
    \class EffectiveKeepAliveOptions
    \brief What the kernel holds for a connection, read back with
    \c getsockopt() (KeepAliveSocket::effectiveKeepAliveOptions()).

    A read-back, not a request: it cannot be passed to
    KeepAliveSocket::setKeepAliveOptions(). Every field is a
    \c std::optional, empty where the running platform cannot read it back
    (see KeepAliveOptions::readableFields()) and all empty without a
    connection. Nothing is guessed.
*/
class QTKEEPALIVE_EXPORT EffectiveKeepAliveOptions
{
public:
    //! Whether the kernel sends keepalive probes (\c SO_KEEPALIVE).
    std::optional<bool> enabled;
    //! Time without traffic before the first probe, as the kernel holds it (whole seconds).
    std::optional<std::chrono::milliseconds> idle;
    //! Time between unanswered probes.
    std::optional<std::chrono::milliseconds> interval;
    //! Unanswered probes before the peer is declared dead.
    std::optional<int> probeCount;
    //! The retransmission bound the kernel holds; 0 ms means none (off).
    std::optional<std::chrono::milliseconds> userTimeout;

    //! The fields that hold a value.
    KeepAliveOptions::Fields knownFields() const;
    //! True when nothing is known (no connection, or nothing readable).
    bool isEmpty() const { return !knownFields(); }

    friend QTKEEPALIVE_EXPORT bool operator==(const EffectiveKeepAliveOptions &a,
                                              const EffectiveKeepAliveOptions &b);
    friend bool operator!=(const EffectiveKeepAliveOptions &a, const EffectiveKeepAliveOptions &b)
    {
        return !(a == b);
    }
};

Q_DECLARE_METATYPE(EffectiveKeepAliveOptions)

//! Prints e.g. EffectiveKeepAliveOptions(enabled, idle 10 s, interval 2 s, probes 3, user timeout 16 s).
QTKEEPALIVE_EXPORT QDebug operator<<(QDebug debug, const EffectiveKeepAliveOptions &options);
