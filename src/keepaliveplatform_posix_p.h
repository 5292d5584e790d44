// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: helpers shared by the POSIX platform files (Linux, macOS,
// FreeBSD); defined in keepaliveplatform_posix.cpp. Not installed.

#include "keepaliveplatform_p.h"

namespace KeepAlivePlatform::Posix {

bool setInt(qintptr descriptor, int level, int option, int value);
bool getInt(qintptr descriptor, int level, int option, int *value);
//! \a value rounded up to whole seconds, for the seconds-only options.
int seconds(std::chrono::milliseconds value, const DurationLimit &limit);
//! A non-blocking poll() for input: the revents, 0 when nothing is pending or on failure.
short pollNow(qintptr descriptor);

} // namespace KeepAlivePlatform::Posix
