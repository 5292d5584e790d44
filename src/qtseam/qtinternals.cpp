// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "qtinternals_p.h"

#include <QtCore/QSocketNotifier>
#include <QtCore/QtGlobal>
#include <QtNetwork/QTcpServer>

#include <atomic>

Q_LOGGING_CATEGORY(lcQtInternals, "qtkeepalive.qtinternals", QtInfoMsg)

namespace QtInternals {

namespace {

std::atomic<unsigned> g_broken{0}; // one bit per Assumption

bool forcedByTesting()
{
    static const bool forced =
            qEnvironmentVariableIntValue("QTKEEPALIVE_TESTING_PUBLIC_API_ONLY") != 0;
    return forced;
}

} // namespace

QString describe(Assumption assumption)
{
    switch (assumption) {
    case Assumption::NativeEngineChild:
        return QStringLiteral("a connected socket's engine is a child named QNativeSocketEngine");
    case Assumption::NotifierChildren:
        return QStringLiteral("the engine's socket notifiers are its children");
    case Assumption::SockActDelivery:
        return QStringLiteral("the read notifier receives QEvent::SockAct through Qt's event "
                              "notification callback and event filters");
    case Assumption::SyntheticSockAct:
        return QStringLiteral("a QEvent::SockAct sent to the read notifier makes Qt read");
    case Assumption::SockCloseDelivery:
        return QStringLiteral("on Windows the read notifier receives QEvent::SockClose at the "
                              "connection's end");
    case Assumption::ErrnoSurvivesRead:
        return QStringLiteral("the errno of Qt's failing read survives until errorOccurred()");
    case Assumption::ProxyInnerSocket:
        return QStringLiteral("a proxy engine keeps the connection in a child QTcpSocket");
    case Assumption::SslPlainSocket:
        return QStringLiteral("a QSslSocket keeps its connection in a child QTcpSocket");
    case Assumption::ServerAcceptNotifier:
        return QStringLiteral("a listening QTcpServer accepts through a read notifier of its "
                              "engine child");
    }
    return QString();
}

bool trusted()
{
    return g_broken.load(std::memory_order_relaxed) == 0 && !forcedByTesting();
}

void broken(Assumption assumption, const QString &detail)
{
    const unsigned bit = 1u << unsigned(assumption);
    if (g_broken.fetch_or(bit, std::memory_order_relaxed) & bit)
        return;
    qCWarning(lcQtInternals).noquote()
            << QStringLiteral("Qt %1 no longer behaves as this library assumes (%2): %3. New "
                              "connections use public API only; see \"Platform support\" in "
                              "the README for what that mode reports.")
                       .arg(QLatin1String(qVersion()), describe(assumption), detail);
}

QSocketNotifier *acceptNotifier(const QTcpServer *server)
{
    if (!trusted() || !server->isListening())
        return nullptr;
    for (QObject *child : server->children()) {
        if (!child->inherits("QAbstractSocketEngine"))
            continue;
        // A server listening through a proxy accepts through the proxy's
        // engine: no notifier of its own to find.
        if (!child->inherits("QNativeSocketEngine"))
            return nullptr;
        for (QObject *grandChild : child->children()) {
            auto *notifier = qobject_cast<QSocketNotifier *>(grandChild);
            if (notifier && notifier->type() == QSocketNotifier::Read)
                return notifier;
        }
    }
    broken(Assumption::ServerAcceptNotifier,
           QStringLiteral("a listening %1 has no native engine child with a read notifier")
                   .arg(QLatin1String(server->metaObject()->className())));
    return nullptr;
}

} // namespace QtInternals
