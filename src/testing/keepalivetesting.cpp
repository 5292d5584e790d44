// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivetesting.h"

#include <QtCore/QElapsedTimer>
#include <QtNetwork/QAbstractSocket>
#include <QtNetwork/QHostAddress>

#if defined(Q_OS_LINUX)
#  include <linux/filter.h>
#endif
#if defined(Q_OS_WIN)
#  include <winsock2.h>
#else
#  include <sys/socket.h>
#endif

#include <cerrno>

namespace QtKeepAliveTesting {

namespace {

bool fail(QString *errorMessage, const QString &message)
{
    if (errorMessage)
        *errorMessage = message;
    return false;
}

} // namespace

bool silence(qintptr descriptor, QString *errorMessage)
{
    if (descriptor < 0)
        return fail(errorMessage, QStringLiteral("silence: the socket has no descriptor"));
#if defined(Q_OS_LINUX)
    // One classic BPF instruction, "ret #0": accept 0 bytes of every packet.
    // The kernel then drops each segment before TCP sees it, so nothing is
    // acknowledged and no RST is sent.
    sock_filter dropAll[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    const sock_fprog program{1, dropAll};
    if (::setsockopt(int(descriptor), SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0)
        return fail(
                errorMessage,
                QStringLiteral("silence: SO_ATTACH_FILTER failed: %1").arg(qt_error_string(errno)));
    return true;
#else
    return fail(errorMessage,
                QStringLiteral("silence: needs Linux socket filters (SO_ATTACH_FILTER)"));
#endif
}

bool silence(QAbstractSocket *socket, QString *errorMessage)
{
    if (!socket)
        return fail(errorMessage, QStringLiteral("silence: no socket"));
    return silence(socket->socketDescriptor(), errorMessage);
}

bool resetConnection(QAbstractSocket *socket, QString *errorMessage)
{
    if (!socket || socket->socketDescriptor() < 0)
        return fail(errorMessage, QStringLiteral("resetConnection: the socket has no descriptor"));
    const linger abortive{1, 0};
    if (::setsockopt(socket->socketDescriptor(), SOL_SOCKET, SO_LINGER,
                     reinterpret_cast<const char *>(&abortive), sizeof abortive)
        != 0)
        return fail(errorMessage,
                    QStringLiteral("resetConnection: SO_LINGER failed: %1").arg(qt_error_string()));
    socket->abort();
    return true;
}

QString PeerControl::addressFromEnvironment()
{
    return qEnvironmentVariable("KEEPALIVE_PEER_CONTROL");
}

bool PeerControl::isValidAddress(const QString &address)
{
    if (address.count(QLatin1Char(':')) != 1)
        return false;
    bool validPort = false;
    const uint port = address.section(QLatin1Char(':'), 1, 1).toUInt(&validPort);
    return !QHostAddress(address.section(QLatin1Char(':'), 0, 0)).isNull() && validPort && port >= 1
            && port <= 65535;
}

bool PeerControl::open(const QString &address, QString *errorMessage)
{
    if (!isValidAddress(address))
        return fail(errorMessage,
                    QStringLiteral("peer control address \"%1\" is not HOST:PORT (an IP "
                                   "address, a port 1..65535)")
                            .arg(address));
    m_socket.abort();
    m_socket.connectToHost(QHostAddress(address.section(QLatin1Char(':'), 0, 0)),
                           quint16(address.section(QLatin1Char(':'), 1, 1).toUInt()));
    if (m_socket.waitForConnected(ControlTimeoutMs))
        return true;
    return fail(errorMessage,
                QStringLiteral("peer control %1: %2").arg(address, m_socket.errorString()));
}

bool PeerControl::isOpen() const
{
    return m_socket.state() == QAbstractSocket::ConnectedState;
}

QStringList PeerControl::command(const QString &line, QString *errorMessage)
{
    m_socket.write(line.toUtf8() + '\n');
    QElapsedTimer clock;
    clock.start();
    while (!m_socket.canReadLine() && isOpen() && clock.elapsed() < ControlTimeoutMs)
        m_socket.waitForReadyRead(int(ControlTimeoutMs - clock.elapsed()));
    const QString reply = QString::fromUtf8(m_socket.readLine()).trimmed();
    QStringList words = reply.split(QLatin1Char(' '), Qt::SkipEmptyParts);
    if (words.value(0) != QStringLiteral("ok")) {
        fail(errorMessage,
             QStringLiteral("%1: %2").arg(line,
                                          reply.isEmpty() ? QStringLiteral("no answer") : reply));
        return {};
    }
    words.removeFirst();
    return words;
}

} // namespace QtKeepAliveTesting
