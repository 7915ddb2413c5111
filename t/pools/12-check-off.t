# The attack cases of t/pools/01-evil-gif.t and 02-missing.t, on vhost
# vf_site_a_off: the same site and pool with "VhostFcgiCheckScript Off",
# i.e. URL-based routing as with ProxyPassMatch "\.php(/.*)?$".  Without the
# check the attacks work: the PHP code in evil.gif runs (php-fpm's
# cgi.fix_pathinfo = 1 resolves evil.gif/x.php to evil.gif, and the pool's
# security.limit_extensions admits .gif), and /missing.php reaches php-fpm.
# This is the proof that the check, not the backend, stops them; what was
# observed is printed as diag lines.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 7;

sub excerpt { my $t = shift // ''; $t =~ s/[^\x20-\x7e\n]/./g; $t =~ s/\n/\\n/g; substr($t, 0, 120) }

my $mark = access_mark('site-a');
my $evil = raw_request('vf_site_a_off', 'GET', '/uploads/evil.gif/x.php');
my $evil_on = raw_request('vf_site_a', 'GET', '/uploads/evil.gif/x.php');
my $missing = raw_request('vf_site_a_off', 'GET', '/missing.php');
my $log = access_settle('vf_site_a_off', 'site-a', $mark);
ok(defined $log, "site-a's access log shows the sentinel request");

ok(evil_ran($evil), 'check Off: /uploads/evil.gif/x.php runs the PHP code in evil.gif');
is($evil->{status}, 200, 'check Off: evil.gif/x.php answers 200');
ok(!evil_ran($evil_on), 'check On (same site, same pool): it does not');
my @evil_hits = access_lines_for($log, '/uploads/evil.gif/x.php');
ok(@evil_hits >= 1, 'check Off: php-fpm logged the evil.gif request');

isnt($missing->{status}, 200, "check Off: /missing.php is not 200 ($missing->{status})");
my @missing_hits = access_lines_for($log, '/missing.php');
ok(@missing_hits >= 1, 'check Off: /missing.php reached php-fpm (its access log)');

diag("attack with VhostFcgiCheckScript Off (vhost vf_site_a_off, pool site-a):");
diag("  GET /uploads/evil.gif/x.php -> $evil->{status}, body: " . excerpt($evil->{body}));
diag("    php-fpm access log: $_") for @evil_hits;
diag("  same request with the check On -> $evil_on->{status}, body: " . excerpt($evil_on->{body}));
diag("  GET /missing.php -> $missing->{status}, body: " . excerpt($missing->{body}));
diag("    php-fpm access log: $_") for @missing_hits;
