// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Collects the warnings Qt and the library print while a test runs a piece
// of hostile input (server, heartbeat).

#include <QtCore/QStringList>
#include <QtCore/QtGlobal>

// Every warning while it lives, after Qt Test's own handler has seen it.
class WarningTrap
{
public:
    WarningTrap()
    {
        s_trap = this;
        m_previous = qInstallMessageHandler(&WarningTrap::handle);
    }
    ~WarningTrap()
    {
        qInstallMessageHandler(m_previous);
        s_trap = nullptr;
    }
    QStringList warnings;

private:
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
    {
        if (type != QtDebugMsg && type != QtInfoMsg)
            s_trap->warnings << message;
        s_trap->m_previous(type, context, message);
    }
    static inline WarningTrap *s_trap = nullptr;
    QtMessageHandler m_previous = nullptr;
};
