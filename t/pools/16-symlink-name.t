# The script check asks the real file's name (DESIGN: "matched against the
# real file's name"): PHP reads what a symlink leads to, so a link named
# gif.php to an uploaded evil.gif is no script.  It gets 403 and an
# error-log line naming both, and the GIF's PHP never runs; a link named
# script.php to a real script runs it, under the link's name.  (Options
# FollowSymLinks in links-follow: httpd itself follows both.)
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 3 + 3;

my $mark = log_mark();
my $res = raw_request('vf_site_a', 'GET', '/links-follow/gif.php');
is($res->{status}, 403, 'symlink gif.php -> uploads/evil.gif: 403')
    or diag($res->{body});
ok(!evil_ran($res), '... the GIF\'s PHP did not run');
like(log_since($mark),
     qr{AH10734: script check: \S+/links-follow/gif\.php is a symlink to \S+/uploads/evil\.gif, whose name is not a script's; refused},
     '... the error log names the link and its target');

my $env;
($res, $env) = get_env('vf_site_a', '/links-follow/script.php');
is($res->{status}, 200, 'symlink script.php -> s.php: 200') or diag($res->{body});
is($env->{X_SCRIPT}, 's.php', '... s.php ran');
like($env->{SCRIPT_FILENAME} // '', qr{/links-follow/script\.php$},
     '... as the link\'s name (SCRIPT_FILENAME)');
