# Writes the replay scenarios in this directory; run from here with: python3 generate.py
# Each file starts with a description and its "# expect: <rule> <subject>" lines.
import json, datetime
T0 = datetime.datetime(2026, 3, 2, 9, 0, 0, tzinfo=datetime.timezone.utc)
def ts(sec): return (T0 + datetime.timedelta(seconds=sec)).strftime('%Y-%m-%dT%H:%M:%SZ')
def ev(sec, typ, **kw):
    d = {"time": ts(sec), "type": typ}; d.update(kw); return d
def write(name, desc, expects, events):
    with open(name + '.jsonl', 'w') as f:
        f.write('# ' + desc + '\n')
        for e in expects: f.write('# expect: ' + e + '\n')
        if not expects: f.write('# expect: nothing\n')
        for e in events: f.write(json.dumps(e, ensure_ascii=False) + '\n')

# brute force by IP
write('brute_force_ip_crossed', '5 failed logins from one IPv4 address in 9 minutes 59 seconds (fail2ban: maxretry 5, findtime 10m)',
      ['brute_force_ip ip:203.0.113.7/32'],
      [ev(i*149.75, 'login_failure', ip='203.0.113.7') for i in range(5)])
write('brute_force_ip_below', '4 failures in 5 minutes, then 5 whose first and fifth are exactly 10 minutes apart, then 12 spread over two hours: never 5 within less than 10 minutes',
      [],
      [ev(i*75, 'login_failure', ip='198.51.100.20') for i in range(4)] +
      [ev(900 + i*150, 'login_failure', ip='198.51.100.20') for i in range(5)] +
      [ev(3600 + i*600, 'login_failure', ip='198.51.100.20') for i in range(12)])
write('brute_force_ipv6_rotation', 'an attacker rotating through addresses of one IPv6 /64 stays one source; 12 separate /64s do not add up',
      ['brute_force_ip ip:2001:db8:1:2::/64'],
      [ev(i*10, 'login_failure', ip='2001:db8:1:2:%x:%x:%x:%x' % (i*7919 % 65536, i*104729 % 65536, i+1, i*31 % 65536)) for i in range(12)] +
      [ev(200 + i*5, 'login_failure', ip='2001:db8:1:%x::1' % (100+i)) for i in range(12)])
# brute force by account
write('brute_force_account_crossed', '5 failures for one user from two addresses in 10 minutes',
      ['brute_force_account user:alice'],
      [ev(i*120, 'login_failure', ip=['192.0.2.1', '192.0.2.2'][i % 2], user_id='alice') for i in range(5)])
write('brute_force_account_below', '4 failures in 15 minutes, and the 5th after the window has moved on',
      [],
      [ev(i*60, 'login_failure', ip='192.0.2.1', user_id='alice') for i in range(4)] +
      [ev(20*60, 'login_failure', ip='192.0.2.1', user_id='alice')])
# distributed
write('distributed_attack_crossed', '5 IPv6 /64s fail against one account in 10 minutes (also 5 failures for the account)',
      ['distributed_attack user:carol', 'brute_force_account user:carol'],
      [ev(i*120, 'login_failure', ip='2001:db8:%x::9' % (i+1), user_id='carol') for i in range(5)])
write('distributed_attack_below', 'addresses inside one /64 are one source: 2 groups only, and 4 failures',
      [],
      [ev(i*60, 'login_failure', ip=['2001:db8:5::1', '2001:db8:5::2', '2001:db8:5:0:ffff::3', '2001:db8:6::1'][i], user_id='carol') for i in range(4)])
# credential stuffing
write('credential_stuffing_crossed', 'one address fails against 10 distinct accounts in 9 minutes (5 failures within 10 minutes: brute_force_ip too)',
      ['credential_stuffing ip:203.0.113.50/32', 'brute_force_ip ip:203.0.113.50/32'],
      [ev(i*60, 'login_failure', ip='203.0.113.50', user_id='user%d' % i) for i in range(10)])
write('credential_stuffing_below', 'one address fails against 9 accounts, repeating two of them: 9 distinct within 10 minutes (but 5 failures within 10 minutes: brute_force_ip)',
      ['brute_force_ip ip:203.0.113.51/32'],
      [ev(i*70, 'login_failure', ip='203.0.113.51', user_id='user%d' % (i % 9)) for i in range(9)] +
      [ev(700 + i*70, 'login_failure', ip='203.0.113.51', user_id='user%d' % (i % 2)) for i in range(2)])
# impossible travel
geo = {'paris': dict(country='FR', lat=48.8566, lon=2.3522, accuracy_km=20),
       'sydney': dict(country='AU', lat=-33.8688, lon=151.2093, accuracy_km=20),
       'nyc': dict(country='US', lat=40.7128, lon=-74.0060, accuracy_km=20),
       'lyon': dict(country='FR', lat=45.7640, lon=4.8357, accuracy_km=20),
       'tokyo_vague': dict(country='JP', lat=35.6762, lon=139.6503, accuracy_km=500)}
write('impossible_travel_crossed', 'Paris then Sydney an hour later (16,960 km/h); AU is also a new country',
      ['impossible_travel user:dave', 'new_country user:dave'],
      [ev(0, 'login_success', ip='192.0.2.10', user_id='dave', geo=geo['paris']),
       ev(3600, 'login_success', ip='198.51.100.10', user_id='dave', geo=geo['sydney'])])
write('impossible_travel_below', 'Paris then New York 10 hours later (585 km/h), Lyon by train, and a login with a 500 km accuracy radius',
      ['new_country user:erin', 'new_country user:erin'],
      [ev(0, 'login_success', ip='192.0.2.11', user_id='erin', geo=geo['paris']),
       ev(36000, 'login_success', ip='198.51.100.11', user_id='erin', geo=geo['nyc']),
       ev(36060, 'login_success', ip='198.51.100.12', user_id='erin', geo=geo['tokyo_vague']),
       ev(72000, 'login_success', ip='192.0.2.12', user_id='erin', geo=geo['lyon']),
       ev(72001, 'login_success', ip='192.0.2.12', user_id='frank')])
# new country / device
write('new_country_device_crossed', 'first login is not new; FR twice, then DE and a second device',
      ['new_country user:gina', 'new_device user:gina'],
      [ev(0, 'login_success', user_id='gina', fingerprint='fp-a', geo=dict(country='FR')),
       ev(600, 'login_success', user_id='gina', fingerprint='fp-a', geo=dict(country='FR')),
       ev(1200, 'login_success', user_id='gina', fingerprint='fp-b', geo=dict(country='DE')),
       ev(1800, 'login_success', user_id='gina', fingerprint='fp-b', geo=dict(country='DE'))])
write('new_country_device_below', 'first logins of two users, then only known countries and devices',
      [],
      [ev(0, 'login_success', user_id='hank', fingerprint='fp-1', geo=dict(country='US')),
       ev(5, 'login_success', user_id='ivy', fingerprint='fp-2', geo=dict(country='CA')),
       ev(600, 'login_success', user_id='hank', fingerprint='fp-1', geo=dict(country='US')),
       ev(700, 'login_success', user_id='ivy', fingerprint='fp-2', geo=dict(country='CA')),
       ev(800, 'login_failure', user_id='ivy', fingerprint='fp-9', geo=dict(country='RU'))])
# session hijack
UA1 = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0'
UA2 = 'curl/8.9.1'
write('session_hijack_crossed', 'a session moves to another address, and another session changes user agent',
      ['session_hijack session:s-1', 'session_hijack session:s-2'],
      [ev(0, 'login_success', ip='192.0.2.30', user_id='jack', session_id='s-1', user_agent=UA1),
       ev(60, 'page_view', ip='192.0.2.30', user_id='jack', session_id='s-1', user_agent=UA1),
       ev(120, 'page_view', ip='203.0.113.99', user_id='jack', session_id='s-1', user_agent=UA1),
       ev(121, 'page_view', ip='203.0.113.99', user_id='jack', session_id='s-1', user_agent=UA1),
       ev(130, 'page_view', ip='192.0.2.31', user_id='kim', session_id='s-2', user_agent=UA1),
       ev(140, 'export', ip='192.0.2.31', user_id='kim', session_id='s-2', user_agent=UA2)])
write('session_hijack_below', 'a session moving inside its IPv6 /64, and a session reused after logout',
      [],
      [ev(0, 'page_view', ip='2001:db8:aa:1::10', user_id='lee', session_id='s-3', user_agent=UA1),
       ev(60, 'page_view', ip='2001:db8:aa:1:abcd::99', user_id='lee', session_id='s-3', user_agent=UA1),
       ev(70, 'logout', ip='2001:db8:aa:1:abcd::99', user_id='lee', session_id='s-3'),
       ev(80, 'page_view', ip='192.0.2.77', user_id='lee', session_id='s-3', user_agent=UA2)])
# privilege escalation
write('privilege_escalation_crossed', 'an admin grants admin to a user; a user grants itself owner; an ordinary role change',
      ['privilege_escalation user:mia', 'privilege_escalation user:ned', 'privilege_escalation user:oli'],
      [ev(0, 'role_change', user_id='mia', metadata=dict(actor_id='root-1', old_role='member', new_role='admin')),
       ev(10, 'role_change', user_id='ned', metadata=dict(actor_id='ned', old_role='member', new_role='Owner')),
       ev(20, 'role_change', user_id='oli', metadata=dict(actor_id='root-1', old_role='viewer', new_role='editor'))])
write('privilege_escalation_below', 'events other than role_change mentioning roles',
      [],
      [ev(0, 'page_view', user_id='mia', metadata=dict(new_role='admin')),
       ev(10, 'password_change', user_id='mia')])
# mass export
write('mass_export_crossed', '20 exports by one user in 57 minutes',
      ['mass_export user:pat'],
      [ev(i*180, 'export', ip='192.0.2.40', user_id='pat') for i in range(20)])
write('mass_export_below', '19 exports in an hour, then the 20th after the first have left the window',
      [],
      [ev(i*180, 'export', ip='192.0.2.40', user_id='pat') for i in range(19)] +
      [ev(2*3600, 'export', ip='192.0.2.40', user_id='pat')])
# upload attack
write('upload_attack_crossed', '5 blocked uploads by one user from one address in 8 minutes',
      ['upload_attack user:quinn', 'upload_attack ip:192.0.2.50/32'],
      [ev(i*120, 'upload_blocked', ip='192.0.2.50', user_id='quinn') for i in range(5)])
write('upload_attack_below', '4 blocked uploads, and accepted uploads that do not count',
      [],
      [ev(i*120, 'upload_blocked', ip='192.0.2.50', user_id='quinn') for i in range(4)] +
      [ev(500 + i, 'upload_accepted', ip='192.0.2.50', user_id='quinn') for i in range(10)])
# rate limit abuse
write('rate_limit_abuse_crossed', '30 rate_limited events from one address in 4 minutes',
      ['rate_limit_abuse ip:198.51.100.60/32'],
      [ev(i*8, 'rate_limited', ip='198.51.100.60') for i in range(30)])
write('rate_limit_abuse_below', '29 rate_limited events in 5 minutes from one address, 30 from 30 addresses',
      [],
      [ev(i*10, 'rate_limited', ip='198.51.100.61') for i in range(29)] +
      [ev(i, 'rate_limited', ip='198.51.100.%d' % (100+i)) for i in range(30)])
# access probing
write('access_denied_probing_crossed', '20 access_denied from one IPv6 /64 in 9.5 minutes',
      ['access_denied_probing ip:2001:db8:77:1::/64'],
      [ev(i*30, 'access_denied', ip='2001:db8:77:1::%x' % (i+1), user_id='ray') for i in range(20)])
write('access_denied_probing_below', '19 access_denied in 10 minutes',
      [],
      [ev(i*30, 'access_denied', ip='2001:db8:77:1::1') for i in range(19)])
