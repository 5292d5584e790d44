// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include "qtkeepalive_version.h"

#include <QtCore/qglobal.h>

/*!
    \file qtkeepalive_global.h
    Export macro of the QtKeepAlive library, and its version
    (qtkeepalive_version.h: QTKEEPALIVE_VERSION, QTKEEPALIVE_VERSION_CHECK()).

    Shared builds define QTKEEPALIVE_BUILD_LIBRARY while compiling the library;
    static builds and source inclusion through qt_keepalive.pri define
    QTKEEPALIVE_STATIC for library and consumers alike (the CMake target
    propagates it).
*/
#if defined(QTKEEPALIVE_STATIC)
#  define QTKEEPALIVE_EXPORT
#elif defined(QTKEEPALIVE_BUILD_LIBRARY)
#  define QTKEEPALIVE_EXPORT Q_DECL_EXPORT
#else
#  define QTKEEPALIVE_EXPORT Q_DECL_IMPORT
#endif
