// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: how durations read in messages and debug output. Not installed.

#include <QtCore/QString>

#include <chrono>

//! "10 s" for whole seconds, "1500 ms" otherwise (and "0 ms").
inline QString formatDuration(std::chrono::milliseconds value)
{
    if (value.count() != 0 && value.count() % 1000 == 0)
        return QStringLiteral("%1 s").arg(value.count() / 1000);
    return QStringLiteral("%1 ms").arg(value.count());
}
