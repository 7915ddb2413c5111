# The status page names every site's pools and balancer members, so only
# httpd's own configuration opens it.  A tenant's .htaccess (AllowOverride
# FileInfo) that sets the handler by SetHandler, by RewriteRule [H=] or by
# AddHandler gets 403 and an error-log line, not the page; the admin's
# <Location> inside that tenant's directory still shows it.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(:all);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 4 * 3 + 3;

my $page = qr/mod_vhostfcgi status|"pools"/;

for my $t (['/tenant-status/',              'SetHandler'],
           ['/tenant-status/?json',         'SetHandler, ?json'],
           ['/tenant-status-rw/page.html',  'RewriteRule [H=]'],
           ['/tenant-status-add/s.txt',     'AddHandler .txt']) {
    my ($path, $how) = @$t;
    (my $uri = $path) =~ s/\?.*//;
    my $mark = log_mark();
    my $res = raw_request('vf_site_a', 'GET', $path);
    is($res->{status}, 403, ".htaccess $how: 403") or diag($res->{body});
    unlike($res->{body}, $page, ".htaccess $how: no status page");
    like(log_since($mark), qr/AH10732: \Q$uri\E: the handler vhostfcgi-status is not set by a SetHandler of httpd's configuration/,
         ".htaccess $how: the error log says why");
}

# The admin's <Location>, under the tenant directory whose .htaccess sets
# the same handler: the page.
my $res = raw_request('vf_site_a', 'GET', '/tenant-status/admin?json');
is($res->{status}, 200, '<Location> SetHandler in the tenant\'s directory: 200')
    or diag($res->{body});
like($res->{body}, qr/"pools"/, '... the page, as JSON');
like($res->{body}, qr/"site-a"/, '... naming the pools');
