# VhostFcgiExtensions and VhostFcgiPool none, in site A (pool site-a):
#  - ext/ (VhostFcgiExtensions .php .phtml): page.phtml runs in the pool,
#    and so does s.php (the list replaces the default, .php listed too);
#    elsewhere a .phtml is no script (403, t/pools/14);
#  - nopool/ (VhostFcgiPool none): x.php never reaches a backend: httpd
#    serves the file as it is, as for an uploads directory.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 7;

my $res = raw_request('vf_site_a', 'GET', '/ext/page.phtml');
is($res->{status}, 200, 'VhostFcgiExtensions .php .phtml: page.phtml answers 200');
ok(marker_ran($res, 'PHTML-RAN'), '... and runs in the pool') or diag($res->{body});
$res = raw_request('vf_site_a', 'GET', '/ext/s.php');
ok(marker_ran($res, 'EXTPHP-RAN'), '... s.php runs there too') or diag($res->{body});

my $mark = access_mark('site-a');
$res = raw_request('vf_site_a', 'GET', '/nopool/x.php');
is($res->{status}, 200, 'VhostFcgiPool none: x.php answers 200');
ok(!marker_ran($res, 'NOPOOL-RAN'), '... does not run');
like($res->{body} // '', qr/^<\?php/, '... httpd serves the file as it is');
my $log = access_settle('vf_site_a', 'site-a', $mark);
is(scalar(access_lines_for($log // '', '/nopool/x.php')), 0,
   '... and php-fpm never saw it');
