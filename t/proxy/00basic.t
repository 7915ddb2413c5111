# The harness itself: httpd is up and serves a static file.
use strict;
use warnings FATAL => 'all';
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);

plan tests => 1;

my $res = GET '/static.html';
is($res->code, 200, 'static file served by the main server');
