# SPDX-License-Identifier: MIT
"""Chat State Notifications (XEP-0085): routed untouched to an online contact;
standalone notifications (no body) are never stored offline (XEP-0085 §5.6,
XEP-0160), while messages with a body and a chat state are."""
from rawxmpp import q
from slixclient import connect, make_friends

NS_CS = "http://jabber.org/protocol/chatstates"


async def test_chat_states_routed_untouched(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    for state in ("active", "composing", "paused", "inactive", "gone"):
        a.send_raw("<message to='%s' type='chat' id='cs-%s'><%s xmlns='%s'/>"
                   "<thread>t1</thread></message>" % (b.jid, state, state, NS_CS))
        m = await b.messages.get(lambda s, st=state: s.id == "cs-%s" % st, what=state)
        children = [c.tag for c in m.xml]
        assert children == [q(state, NS_CS), q("thread")], children
        assert m.frm == a.jid and m.type == "chat" and m.body is None
    # To the bare JID, with a body.
    a.send_raw("<message to='%s' type='chat' id='cs-body'><body>hi</body><active xmlns='%s'/>"
               "</message>" % (b.bare, NS_CS))
    m = await b.messages.get(lambda s: s.id == "cs-body")
    assert m.body == "hi" and m.xml.find(q("active", NS_CS)) is not None


async def test_standalone_chat_states_not_stored_offline(server):
    a = await connect(server, server.new_account(), "a")
    b = await connect(server, server.new_account(), "b")
    await make_friends(a, b)
    b_account = b.account
    await b.close()
    await a.presence_from(b.jid, "unavailable")
    a.send_raw("<message to='%s' type='chat' id='cs-alone'><composing xmlns='%s'/></message>"
               % (b_account.jid, NS_CS))
    a.send_raw("<message to='%s' type='chat' id='cs-stored'><body>later</body>"
               "<active xmlns='%s'/></message>" % (b_account.jid, NS_CS))
    # The sender gets no error for the dropped notification.
    await a.messages.none(lambda s: s.type == "error", what="an error for a chat state")
    b = await connect(server, b_account, "b2")
    m = await b.message_with("later")
    assert m.xml.find(q("active", NS_CS)) is not None, "stored message keeps its chat state"
    assert m.delay is not None
    await b.messages.none(lambda s: s.id == "cs-alone", what="a stored standalone chat state")
