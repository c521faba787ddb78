"""SIP message parsing and building, with RFC 4475 torture messages as test vectors.

The RFC 4475 messages are quoted verbatim (the IETF publishes them as test vectors) apart
from "longreq", which keeps the shape (repeated strings, dozens of Via fields) but is
generated here. Line endings are CRLF as in the RFC.
"""

from __future__ import annotations

import random

import pytest

from callscope_recorder.ingest.sip.message import (
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    build_request,
    build_response,
    parse_message,
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def sdp150(origin_ip: str = "192.0.2.1", conn_ip: str | None = None) -> str:
    """The SDP body RFC 4475 uses everywhere (150 octets with 192.0.2.1)."""
    return (
        "v=0\n"
        f"o=mhandley 29739 7272939 IN IP4 {origin_ip}\n"
        "s=-\n"
        f"c=IN IP4 {conn_ip or origin_ip}\n"
        "t=0 0\n"
        "m=audio 49217 RTP/AVP 0 12\n"
        "m=video 3227 RTP/AVP 31\n"
        "a=rtpmap:31 LPC\n"
    )


# -- RFC 4475 3.1.1: valid messages ---------------------------------------------------------

WSINV = crlf(
    r"""INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

"""
    + sdp150("192.0.2.3", "192.0.2.4")
)

INTMETH = (
    "!interesting-Method0123456789_*+`.%indeed'~ "
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
    "(doesn't-it)@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
    'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" '
    "<sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n"
    "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="
    '"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439";tag=_token~1\'+`*%!-.\r\n'
    "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
    "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\n"
    "Max-Forwards: 255\r\n"
    "extensionHeader-!.%*+_`'~:\ufeff\u5927\u505c\u96fb\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
).encode("utf-8")

ESC01 = crlf(
    """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

"""
    + sdp150()
)

ESCNULL = crlf(
    """REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

"""
)

ESC02 = crlf(
    """RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"""
)

LWSDISP = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"""
)


def longreq() -> bytes:
    """RFC 4475 3.1.1.7 ("longreq") in shape: very long values and 34 Via fields."""
    vias = []
    spellings = ["Via", "v", "V", "Via", "ViA", "VIa", "VIA"]
    for n in range(33, 0, -1):
        vias.append(f"{spellings[n % len(spellings)]}: SIP/2.0/TCP sip{n}.example.com")
    callername = "amazinglylongcallername" * 5
    text = (
        "INVITE sip:user@example.com SIP/2.0\n"
        f'To: "I have a user name of {"extreme" * 10} proportion"'
        f"<sip:user@example.com:6000;unknownparam1=very{'long' * 20}value;"
        f"longparam{'name' * 25}=shortvalue;very{'long' * 25}ParameterNameWithNoValue>\n"
        f"F: sip:{callername}@example.net;tag=12{'982' * 50}424;"
        f"unknownheaderparam{'aname' * 20}=unknowheaderparam{'avalue' * 15};"
        f"unknownValuelessparam{'name' * 10}\n"
        f"Call-ID: longreq.one{'really' * 20}longcallid\n"
        "CSeq: 3882340 INVITE\n"
        f"Unknown-{'Long' * 20}-Name: unknown-{'long' * 20}-value; "
        f"unknown-{'long' * 20}-parameter-name = unknown-{'long' * 20}-parameter-value\n"
        + "\n".join(vias)
        + "\n"
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;"
        f"branch=very{'long' * 50}branchvalue\n"
        "Max-Forwards: 70\n"
        f"Contact: <sip:{callername}@host5.example.net>\n"
        "Content-Type: application/sdp\n"
        "l: 150\n"
        "\n" + sdp150()
    )
    return crlf(text)


DBLREQ = crlf(
    """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""
)

SEMIURI = crlf(
    """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

"""
)

TRANSPORTS = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"""
)

UNREASON = (
    "SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e \u0434\u0435\u0432\u044f\u043d"
    "\u043e\u0441\u0442\u043e \u0434\u0435\u0432\u044f\u0442\u044c - \u043f\u0440\u043e\u0441"
    "\u0442\u043e\u0435\r\n"
).encode("utf-8") + crlf(
    """Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

"""
    + sdp150("192.0.2.198")
)

NOREASON = b"SIP/2.0 100 \r\n" + crlf(
    """Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

"""
)

# RFC 4475 3.3: application-layer tests, all syntactically valid.
UNKSCM = crlf(
    """OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"""
)

NOVELSC = crlf(
    """OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: novelsc.asdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

"""
)

UNKSM2 = crlf(
    """REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

"""
)

BEXT01 = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0

"""
)

REGAUT01 = crlf(
    """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=87321hj23128
Max-Forwards: 8
Call-ID: regaut01.0ha0isndaksdj
CSeq: 9338 REGISTER
Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw
Authorization: NoOneKnowsThisScheme opaque-data=here
Content-Length:0

"""
)

ZEROMF = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

"""
)

REGESCRT = crlf(
    """REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

"""
)

BCAST = crlf(
    """SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host28.example.com>

"""
    + sdp150("192.0.2.198")
)

# RFC 4475 3.4.1: RFC 2543 syntax (no Content-Length, no Max-Forwards, no branch).
INV2543 = crlf(
    """INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
"""
)

VALID = {
    "wsinv": WSINV,
    "intmeth": INTMETH,
    "esc01": ESC01,
    "escnull": ESCNULL,
    "esc02": ESC02,
    "lwsdisp": LWSDISP,
    "longreq": longreq(),
    "dblreq": DBLREQ,
    "semiuri": SEMIURI,
    "transports": TRANSPORTS,
    "unreason": UNREASON,
    "noreason": NOREASON,
    "unkscm": UNKSCM,
    "novelsc": NOVELSC,
    "unksm2": UNKSM2,
    "bext01": BEXT01,
    "regaut01": REGAUT01,
    "zeromf": ZEROMF,
    "regescrt": REGESCRT,
    "bcast": BCAST,
    "inv2543": INV2543,
}

# -- RFC 4475 3.1.2 and 3.3: messages a UAS must refuse ------------------------------------

BADINV01 = crlf(
    """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

"""
    + sdp150("192.0.2.15")
)

CLERR = crlf(
    """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

"""
    + sdp150("192.0.2.155")
)

NCL = crlf(
    """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

"""
    + sdp150("192.0.2.53")
)

SCALAR02 = crlf(
    f"""REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1{"0" * 100}
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

"""
)

SCALARLG = crlf(
    """SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

"""
)

QUOTBAL = crlf(
    """INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 152

"""
    + sdp150("192.0.2.15")
)

_SDP159 = sdp150("192.0.2.5").replace("t=0 0", "t=3149328700 0")

LTGTRURI = crlf(
    """INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 159

"""
    + _SDP159
)

LWSRURI = crlf(
    """INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 159

"""
    + sdp150().replace("t=0 0", "t=3149328700 0")
)

LWSSTART = crlf(
    """INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 150

"""
    + sdp150()
)

TRWS = b"OPTIONS sip:remote-target@example.com SIP/2.0\x20\x20\r\n" + crlf(
    """Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

"""
)

ESCRURI = crlf(
    """INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5
CSeq: 149209342 INVITE
Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw
Content-Type: application/sdp
Content-Length: 150

"""
    + sdp150()
)

BADASPEC = crlf(
    """OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"""
)

BADDN = crlf(
    """OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

"""
)

BADVERS = crlf(
    """OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

"""
)

MISMATCH01 = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

"""
)

BIGCODE = crlf(
    """SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

"""
)

INSUF = crlf(
    """INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 152

"""
    + sdp150("192.0.2.95")
)

MULTI01 = crlf(
    """INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 154
Contact: <sip:caller@host36.example.net>
Max-Forwards: 5

"""
    + sdp150("192.0.2.25")
)

MCL01 = crlf(
    """OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
"""
)

INVALID = {
    # name: (message, status, words expected in the reason)
    "badinv01": (BADINV01, 400, "Via"),
    "clerr": (CLERR, 400, "Content-Length larger than body"),
    "ncl": (NCL, 400, "Content-Length"),
    "scalar02": (SCALAR02, 400, "CSeq"),
    "scalarlg": (SCALARLG, 400, "CSeq"),
    "quotbal": (QUOTBAL, 400, "To"),
    "ltgtruri": (LTGTRURI, 400, "Request-URI"),
    "lwsruri": (LWSRURI, 400, "request line"),
    "lwsstart": (LWSSTART, 400, "request line"),
    "trws": (TRWS, 400, "request line"),
    "escruri": (ESCRURI, 400, "Request-URI"),
    "badaspec": (BADASPEC, 400, "To"),
    "baddn": (BADDN, 400, "From"),
    "badvers": (BADVERS, 505, "Version Not Supported"),
    "mismatch01": (MISMATCH01, 400, "CSeq method"),
    "bigcode": (BIGCODE, 400, "status line"),
    "insuf": (INSUF, 400, "missing From header"),
    "multi01": (MULTI01, 400, "multiple"),
    "mcl01": (MCL01, 400, "multiple Content-Length"),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_rfc4475_valid_messages_parse(name: str) -> None:
    message = parse_message(VALID[name])
    assert isinstance(message, SipRequest | SipResponse)
    assert (message.headers.get("Call-ID") or "").startswith(name[:5])


@pytest.mark.parametrize("name", sorted(INVALID))
def test_rfc4475_invalid_messages_are_refused_with_4xx(name: str) -> None:
    data, status, words = INVALID[name]
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == status
    assert 400 <= caught.value.status < 600
    assert words in caught.value.reason


def test_wsinv_unfolds_lines_and_reads_every_field() -> None:
    message = parse_message(WSINV)
    assert isinstance(message, SipRequest)
    assert message.method == "INVITE"
    assert message.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert message.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert message.cseq == (9, "INVITE")
    assert message.headers.get("max-forwards") == "0068"
    assert message.headers.get("To") == (
        "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"
    )
    assert message.headers.get("From") == (
        r'"J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8'
    )
    # Three hops: one Via line folded over three lines, then two in one compact "v" line.
    assert message.headers.get_all("Via") == [
        "SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
        "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
        "SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
    ]
    assert "Subject" in message.headers and message.headers.get("Subject") == ""
    assert message.headers.get("NewFangledHeader") == (
        "newfangled value continued newfangled value"
    )
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert (message.headers.get("Contact") or "").startswith('"Quoted string \\"\\"" <sip:')
    assert message.headers.get("Content-Type") == "application/sdp"
    assert len(message.body) == 150 and message.body.startswith(b"v=0\r\n")


def test_intmeth_accepts_the_whole_token_and_utf8_range() -> None:
    message = parse_message(INTMETH)
    assert isinstance(message, SipRequest)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.cseq == (139122385, message.method)
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert "\x00" in (message.headers.get("To") or "")
    assert message.body == b""


def test_compact_forms_are_expanded() -> None:
    message = parse_message(ESC01)
    assert message.headers.get("Call-ID") == "esc01.239409asdfakjkn23onasd0-3234"
    assert message.headers.get("Content-Type") == "application/sdp"
    assert message.headers.get("Contact") == (
        "<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>"
    )
    names = [name for name, _ in message.headers.items()]
    assert "Call-ID" in names and "Content-Type" in names and "i" not in names
    escnull = parse_message(ESCNULL)
    assert escnull.headers.get("Content-Length") == "0"
    assert len(escnull.headers.get_all("contact")) == 2


def test_longreq_many_vias_in_order() -> None:
    message = parse_message(longreq())
    vias = message.headers.get_all("Via")
    assert len(vias) == 34
    assert vias[0] == "SIP/2.0/TCP sip33.example.com"
    assert vias[32] == "SIP/2.0/TCP sip1.example.com"
    assert vias[33].startswith("SIP/2.0/TCP host.example.com;received=192.0.2.5")
    assert len(message.body) == 150


def test_dblreq_extra_octets_after_the_body_are_ignored() -> None:
    message = parse_message(DBLREQ)
    assert isinstance(message, SipRequest)
    assert message.method == "REGISTER"
    assert message.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"
    assert message.body == b""


def test_content_length_shorter_than_the_datagram_truncates_the_body() -> None:
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 4") + b"abcdefgh"
    assert parse_message(data).body == b"abcd"


def test_content_length_larger_than_the_body_is_refused() -> None:
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 9") + b"abcdefgh"
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert (caught.value.status, caught.value.reason) == (400, "Content-Length larger than body")


def test_without_content_length_the_body_is_the_rest_of_the_datagram() -> None:
    message = parse_message(INV2543)
    assert isinstance(message, SipRequest)
    assert message.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    assert "Max-Forwards" not in message.headers


def test_responses_parse_including_odd_reason_phrases() -> None:
    unreason = parse_message(UNREASON)
    assert isinstance(unreason, SipResponse)
    assert unreason.status == 200 and unreason.reason.startswith("= 2**3 * 5**2 но")
    noreason = parse_message(NOREASON)
    assert isinstance(noreason, SipResponse) and (noreason.status, noreason.reason) == (100, "")
    bcast = parse_message(BCAST)
    assert len(bcast.headers.get_all("Via")) == 2 and len(bcast.body) == 154


# -- the parser's own rules -----------------------------------------------------------------

OPTIONS = crlf(
    """OPTIONS sip:srs@192.0.2.10 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-opt1
From: <sip:src@192.0.2.1>;tag=a1
To: <sip:srs@192.0.2.10>
Call-ID: opt-1@192.0.2.1
CSeq: 7 OPTIONS
Max-Forwards: 70
Content-Length: 0

"""
)


def test_bare_lf_line_endings_are_tolerated() -> None:
    message = parse_message(OPTIONS.replace(b"\r\n", b"\n"))
    assert isinstance(message, SipRequest) and message.cseq == (7, "OPTIONS")


def test_leading_crlf_before_the_start_line_is_ignored() -> None:
    assert isinstance(parse_message(b"\r\n\r\n" + OPTIONS), SipRequest)


@pytest.mark.parametrize("header", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_mandatory_header_is_named(header: str) -> None:
    lines = [line for line in OPTIONS.split(b"\r\n") if not line.startswith(header.encode())]
    with pytest.raises(SipParseError) as caught:
        parse_message(b"\r\n".join(lines))
    assert caught.value.status == 400 and caught.value.reason == f"missing {header} header"


def test_max_forwards_is_optional() -> None:
    data = OPTIONS.replace(b"Max-Forwards: 70\r\n", b"")
    assert isinstance(parse_message(data), SipRequest)


@pytest.mark.parametrize(
    ("start_line", "status"),
    [
        (b"OPTIONS sip:srs@192.0.2.10 SIP/3.0", 505),
        (b"OPTIONS sip:srs@192.0.2.10 HTTP/1.1", 400),
        (b"OPTIONS sip:srs@192.0.2.10", 400),
        (b"OPTIONS  sip:srs@192.0.2.10 SIP/2.0", 400),
        (b"OPT IONS sip:srs@192.0.2.10 SIP/2.0", 400),
        (b"OPTIONS srs@192.0.2.10 SIP/2.0", 400),
        (b"OPT<IONS sip:srs@192.0.2.10 SIP/2.0", 400),
        (b"SIP/2.0 99 Too small", 400),
        (b"SIP/2.0 700 Too big", 400),
        (b"SIP/3.0 200 OK", 505),
    ],
)
def test_bad_start_lines(start_line: bytes, status: int) -> None:
    data = start_line + OPTIONS[OPTIONS.index(b"\r\n") :]
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == status


def test_sip_version_is_case_insensitive() -> None:
    data = OPTIONS.replace(b"SIP/2.0\r\n", b"sip/2.0\r\n", 1)
    assert parse_message(data).version == "SIP/2.0"


def test_cseq_method_must_match_the_request_method() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(OPTIONS.replace(b"CSeq: 7 OPTIONS", b"CSeq: 7 INVITE"))
    assert caught.value.status == 400


@pytest.mark.parametrize("cseq", [b"CSeq: OPTIONS", b"CSeq: 7", b"CSeq: x7 OPTIONS", b"CSeq:"])
def test_malformed_cseq(cseq: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(OPTIONS.replace(b"CSeq: 7 OPTIONS", cseq))


def test_non_utf8_headers_are_refused() -> None:
    data = OPTIONS.replace(b"From: <sip:src", b"From: \xff\xfe<sip:src")
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == 400 and "UTF-8" in caught.value.reason


def test_non_utf8_body_is_fine() -> None:
    body = bytes(range(256))
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 256") + body
    assert parse_message(data).body == body


def test_oversized_message_is_refused_with_413() -> None:
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 70000") + b"x" * 70000
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert (caught.value.status, caught.value.reason) == (413, "Message too large")


def test_too_many_header_fields_are_refused() -> None:
    data = OPTIONS.replace(b"Content-Length: 0\r\n", b"X-Filler: 1\r\n" * 600 + b"l: 0\r\n")
    with pytest.raises(SipParseError, match="too many header fields"):
        parse_message(data)
    folded = OPTIONS.replace(b"Content-Length: 0\r\n", b"X-Filler: 1\r\n" + b" 2\r\n" * 600)
    assert len(parse_message(folded).headers.get("X-Filler") or "") == 1 + 2 * 600


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n",  # no empty line after headers
        b"OPTIONS sip:a@b SIP/2.0\r\n folded-first\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nno colon here\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\n: empty name\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n",
    ],
)
def test_structural_garbage_is_a_parse_error(data: bytes) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == 400


def test_malformed_via_and_max_forwards() -> None:
    with pytest.raises(SipParseError, match="Via"):
        parse_message(OPTIONS.replace(b"SIP/2.0/UDP 192.0.2.1:5060", b"192.0.2.1:5060"))
    with pytest.raises(SipParseError, match="Max-Forwards"):
        parse_message(OPTIONS.replace(b"Max-Forwards: 70", b"Max-Forwards: -1"))


def test_via_commas_split_but_not_inside_quotes() -> None:
    headers = Headers(
        [
            ("v", 'SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x="a,b" , SIP/2.0/TCP b;branch=2'),
            ("Via", "SIP/2.0/UDP c.example.com;branch=z9hG4bK3"),
            ("Accept", "application/sdp, multipart/mixed"),
        ]
    )
    assert headers.get_all("VIA") == [
        'SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x="a,b"',
        "SIP/2.0/TCP b;branch=2",
        "SIP/2.0/UDP c.example.com;branch=z9hG4bK3",
    ]
    assert headers.get_all("accept") == ["application/sdp, multipart/mixed"]


def test_headers_are_case_insensitive_multi_valued_and_ordered() -> None:
    headers = Headers()
    headers.add("x-custom", "1")
    headers.add("f", "<sip:a@b>;tag=1")
    headers.add("X-Custom", "2")
    assert headers.get("X-CUSTOM") == "1"
    assert headers.get_all("x-custom") == ["1", "2"]
    assert headers.get("From") == "<sip:a@b>;tag=1" and "from" in headers and "F" in headers
    assert headers.get("missing") is None and headers.get_all("missing") == []
    assert "missing" not in headers
    headers.set("X-Custom", "3")
    assert headers.items() == [("X-Custom", "3"), ("From", "<sip:a@b>;tag=1")]
    headers.set("l", "0")
    assert headers.items()[-1] == ("Content-Length", "0")
    for compact, full in [
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("u", "Allow-Events"),
        ("x", "Session-Expires"),
    ]:
        assert Headers([(compact.upper(), "value")]).items() == [(full, "value")]


# -- building -------------------------------------------------------------------------------

INVITE_TWO_VIA_LINES = crlf(
    """INVITE sip:srs@192.0.2.10:5060 SIP/2.0
Via: SIP/2.0/UDP sbc.example.com;branch=z9hG4bK-1, SIP/2.0/UDP edge.example.com;branch=z9hG4bK-0
Via: SIP/2.0/UDP src.example.com;branch=z9hG4bK-00;received=192.0.2.1
From: "SRC" <sip:src@example.com>;tag=src-1
To: <sip:srs@192.0.2.10>
Call-ID: call-1@src.example.com
CSeq: 101 INVITE
Max-Forwards: 69
Content-Length: 0

"""
)


def test_build_response_copies_the_dialog_headers_and_adds_the_to_tag() -> None:
    request = parse_message(INVITE_TWO_VIA_LINES)
    assert isinstance(request, SipRequest)
    raw = build_response(
        request,
        200,
        "OK",
        to_tag="srs-9",
        body=b"v=0\r\n",
        content_type="application/sdp",
        extra_headers=[("Contact", "<sip:srs@192.0.2.10>"), ("Require", "siprec")],
    )
    assert raw.startswith(b"SIP/2.0 200 OK\r\n")
    head, body = raw.split(b"\r\n\r\n", 1)
    assert body == b"v=0\r\n"
    assert b"\n" not in head.replace(b"\r\n", b"")  # CRLF only
    response = parse_message(raw)
    assert isinstance(response, SipResponse)
    assert response.status == 200 and response.reason == "OK"
    assert response.headers.get_all("Via") == [
        "SIP/2.0/UDP sbc.example.com;branch=z9hG4bK-1",
        "SIP/2.0/UDP edge.example.com;branch=z9hG4bK-0",
        "SIP/2.0/UDP src.example.com;branch=z9hG4bK-00;received=192.0.2.1",
    ]
    assert response.headers.get("From") == '"SRC" <sip:src@example.com>;tag=src-1'
    assert response.headers.get("To") == "<sip:srs@192.0.2.10>;tag=srs-9"
    assert response.call_id == "call-1@src.example.com"
    assert response.cseq == (101, "INVITE")
    assert response.headers.get("Require") == "siprec"
    assert response.headers.get("Content-Type") == "application/sdp"
    assert response.headers.get("Content-Length") == "5"


def test_build_response_keeps_an_existing_to_tag_and_omits_content_type_without_body() -> None:
    request = parse_message(
        INVITE_TWO_VIA_LINES.replace(b"<sip:srs@192.0.2.10>", b"<sip:srs@192.0.2.10>;tag=old")
    )
    assert isinstance(request, SipRequest)
    raw = build_response(request, 481, "Call/Transaction Does Not Exist", to_tag="new")
    response = parse_message(raw)
    assert response.headers.get("To") == "<sip:srs@192.0.2.10>;tag=old"
    assert "Content-Type" not in response.headers
    assert response.headers.get("Content-Length") == "0"
    assert raw.endswith(b"Content-Length: 0\r\n\r\n")


def test_build_response_cannot_be_split_by_a_hostile_reason() -> None:
    request = parse_message(OPTIONS)
    assert isinstance(request, SipRequest)
    raw = build_response(request, 400, "bad\r\nX-Injected: 1")
    assert raw.count(b"\r\n\r\n") == 1
    assert "X-Injected" not in parse_message(raw).headers


def test_build_request_round_trips() -> None:
    raw = build_request(
        "BYE",
        "sip:src@192.0.2.1:5060",
        [
            ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-bye"),
            ("From", "<sip:srs@192.0.2.10>;tag=srs-9"),
            ("To", "<sip:src@example.com>;tag=src-1"),
            ("i", "call-1@src.example.com"),
            ("CSeq", "1 BYE"),
            ("Max-Forwards", "70"),
            ("Content-Length", "999"),
        ],
    )
    request = parse_message(raw)
    assert isinstance(request, SipRequest)
    assert (request.method, request.uri) == ("BYE", "sip:src@192.0.2.1:5060")
    assert request.call_id == "call-1@src.example.com" and request.cseq == (1, "BYE")
    assert request.headers.get_all("Content-Length") == ["0"]


# -- fuzzing: nothing but SipParseError may escape ------------------------------------------

SEEDS = [WSINV, INTMETH, ESC01, INVITE_TWO_VIA_LINES, OPTIONS, BCAST, DBLREQ, longreq()]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:  # insert a troublesome byte
            buf[pos:pos] = bytes([rng.choice(b'\r\n \t:;,<>"\\@\x00\xff=/')])
        elif op == 2 and buf:  # delete a run
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 3:  # truncate
            del buf[pos:]
        elif op == 4:  # duplicate a slice
            end = min(len(buf), pos + rng.randint(1, 64))
            buf[pos:pos] = buf[pos:end]
        elif op == 5:  # swap two lines
            lines = bytes(buf).split(b"\r\n")
            if len(lines) > 2:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
                buf = bytearray(b"\r\n".join(lines))
        else:  # a number gets huge or negative
            buf[pos:pos] = rng.choice([b"-1", b"99999999999999999999", b"0", b"4294967296"])
    return bytes(buf)


def test_fuzz_only_sip_parse_errors_escape() -> None:
    rng = random.Random(4475)
    parsed = refused = 0
    for i in range(2000):
        if i % 4 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 600)))
            if rng.random() < 0.5:
                data = b"INVITE sip:a@b SIP/2.0\r\n" + data
        else:
            data = _mutate(rng, rng.choice(SEEDS))
        try:
            message = parse_message(data)
        except SipParseError as exc:
            assert 400 <= exc.status < 600 and exc.reason
            refused += 1
            continue
        parsed += 1
        # Whatever parses must be usable by the server without surprises.
        _ = message.headers.items(), message.headers.get_all("Via")
        if isinstance(message, SipRequest):
            assert message.cseq[1] == message.method
            build_response(message, 400, "Bad Request", to_tag="t")
    assert parsed > 50 and refused > 500  # the mutations reach both outcomes
