"""Common English words, written for this repository, grouped by part of speech.

The groups feed the sentence templates; :data:`ALL_WORDS` is their sorted union and
serves as the recogniser's default lexicon.  Every entry uses only the CTC
characters (a-z and apostrophe).

>>> len(ALL_WORDS) >= 2000
True
>>> all(set(w) <= set("abcdefghijklmnopqrstuvwxyz'") for w in ALL_WORDS)
True
"""

from __future__ import annotations

__all__ = [
    "FUNCTION_WORDS",
    "CONTRACTIONS",
    "NUMBER_WORDS",
    "ORDINAL_WORDS",
    "MONTHS",
    "WEEKDAYS",
    "NAMES",
    "PLACES",
    "ROOMS",
    "DEVICES",
    "FOODS",
    "ANIMALS",
    "COLOURS",
    "GENRES",
    "PLURAL_NOUNS",
    "NOUNS",
    "VERBS",
    "VERB_FORMS",
    "ADJECTIVES",
    "ADVERBS",
    "ALL_WORDS",
]


def _words(block: str) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for w in block.split():
        seen.setdefault(w, None)
    return tuple(seen)


FUNCTION_WORDS = _words("""
a an the this that these those some any no every each either neither both all many much more most
few little less least several enough such other another own same what which who whom whose where
when why how whether if unless until while because since though although as than then so but and or
nor yet for of to in on at by with without within about above across after against along among around
before behind below beneath beside besides between beyond down during except from inside into near
off onto out outside over past through throughout toward towards under underneath up upon via i me my
mine myself you your yours yourself yourselves he him his himself she her hers herself it its itself we
us our ours ourselves they them their theirs themselves one ones be am is are was were been being have
has had having do does did doing done will would shall should can could may might must ought not yes
okay please thanks thank hello hi goodbye bye sorry oh well just also too very quite rather really only
even still already ever never always often sometimes usually here there now today tonight tomorrow
yesterday soon later again once twice o'clock almost maybe perhaps however therefore instead else whatever
whenever wherever whoever anyone anybody anything anywhere someone somebody something somewhere everyone
everybody everything everywhere nobody nothing nowhere none let
""")

CONTRACTIONS = _words("""
don't doesn't didn't can't couldn't won't wouldn't shouldn't isn't aren't wasn't weren't haven't hasn't
hadn't i'm you're we're they're he's she's it's that's there's what's who's where's here's let's i've
you've we've they've i'll you'll we'll they'll he'll she'll it'll i'd you'd we'd they'd he'd she'd
""")

NUMBER_WORDS = _words("""
zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred
thousand million billion trillion point minus half quarter dozen
""")

ORDINAL_WORDS = _words("""
first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth
fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth thirtieth fortieth fiftieth
sixtieth seventieth eightieth ninetieth hundredth thousandth millionth billionth trillionth
""")

MONTHS = _words("january february march april may june july august september october november december")

WEEKDAYS = _words("monday tuesday wednesday thursday friday saturday sunday")

NAMES = _words("""
anna ben carl david emma frank grace henry irene jack julia kate laura leo lucy mark mary max nina oscar
paul peter rachel robert sam sarah simon sophie thomas tom victor walter alice bob charlie daniel eric
fiona george hannah isaac james john karen linda mike nancy olivia patrick rose steve susan tina william
""")

PLACES = _words("""
london paris berlin rome madrid tokyo boston chicago denver seattle dallas toronto sydney dublin vienna
prague oslo stockholm lisbon athens cairo delhi beijing moscow mexico canada france germany italy spain
japan china india brazil england ireland scotland wales europe africa asia america australia
""")

ROOMS = _words("""
kitchen bedroom bathroom garage garden hallway office basement attic lounge study porch cellar nursery
library
""")

DEVICES = _words("""
light lights lamp fan heater radio television tv speaker music alarm oven kettle dishwasher washer
dryer fridge freezer thermostat camera printer computer laptop phone tablet screen router doorbell
blinds curtains lock vacuum microwave toaster projector
""")

FOODS = _words("""
bread butter cheese milk egg eggs coffee tea juice water apple apples banana bananas orange oranges
lemon grape grapes pear peach cherry berries strawberry potato potatoes tomato tomatoes onion carrot
carrots rice pasta soup salad sandwich pizza burger chicken beef pork fish salmon tuna bacon sausage
cereal cake cookie cookies chocolate sugar salt pepper honey jam yogurt cream pie beans corn peas
lettuce garlic mushroom noodles steak candy snack lunch dinner breakfast meal dessert
""")

ANIMALS = _words("""
dog dogs cat cats horse cow pig sheep goat chicken duck bird birds fish mouse rabbit fox wolf bear lion
tiger elephant monkey snake frog bee ant spider owl eagle whale dolphin shark deer squirrel turtle
""")

GENRES = _words("jazz rock pop classical country blues folk dance soul reggae opera")

PLURAL_NOUNS = _words("""
people minutes hours days weeks months years dollars books cars apples eggs children students tickets
bottles boxes pages miles songs messages friends houses games windows doors shoes letters questions
""")

COLOURS = _words("red blue green yellow orange purple pink brown black white grey gray silver gold")

NOUNS = _words("""
time year people way day man woman child children world life hand part place case week company system
program question work government number night point home water room mother area money story fact month
lot right study book eye eyes job word business issue side kind head house service friend father power
hour game line end member law car city community name president team minute idea kid body information
back parent face others level office door health person art war history party result change morning
reason research girl guy moment air teacher force education foot feet boy age policy music market sense
nation plan college interest death experience effect class control care field development role effort
rate heart drug show leader voice wife police mind price report decision son view relationship town
road arm difference value building action model season society tax director position player record
paper space ground form event official matter center centre couple site project activity star table
need court oil situation cost industry figure street image phone data picture practice piece land
product doctor wall patient worker news test movie north south east west love support technology step
baby computer type attention film tree source organization hair window evidence population truth
page husband daughter brother sister uncle aunt cousin grandmother grandfather family friends neighbor
neighbour student school university class lesson homework exam teacher professor library desk chair
bed sofa couch shelf cupboard drawer mirror floor ceiling roof wall stairs step gate fence yard lawn
flower flowers plant plants grass leaf leaves branch forest wood hill mountain river lake sea ocean
beach island valley desert field farm village country state county border coast bridge tunnel highway
street avenue corner square park station airport harbor port train bus plane ship boat bike bicycle
truck taxi ticket seat journey trip travel holiday vacation hotel restaurant cafe shop store market
bank hospital church museum theater theatre cinema stadium factory prison hall tower castle palace
kitchen bathroom bedroom garage garden office basement window door key lock box bag bottle cup glass
plate bowl spoon fork knife pan pot kettle oven sink towel soap brush comb pen pencil paper letter
note card stamp envelope package parcel gift present toy ball doll puzzle kite clock watch hour
minute second morning afternoon evening night midnight noon weekend week month year decade century
spring summer autumn fall winter weather rain snow wind storm cloud clouds sun moon star sky fog ice
heat cold temperature degree degrees inch foot mile meter metre kilometer kilogram pound ounce gallon
liter litre size shape color colour sound noise silence voice song songs band concert radio album
guitar piano drum violin dance picture photo camera painting drawing poem poetry novel story chapter
word sentence language grammar question answer problem solution idea thought memory dream plan goal
chance choice decision mistake error reason cause effect result example sample detail fact truth
secret message email text call meeting appointment interview conversation discussion argument
agreement contract deal offer price cost bill receipt payment salary income budget account credit
cash coin coins dollar dollars euro euros cent cents pound pounds tax fee fine loan debt profit loss
business company firm industry market customer client manager boss staff employee worker team
partner owner director president minister king queen prince princess army soldier officer captain
police judge lawyer doctor nurse patient dentist engineer farmer driver pilot cook chef waiter
artist writer author actor actress singer player coach referee scientist teacher student child
baby adult man woman boy girl people person crowd group couple pair member guest visitor stranger
enemy hero winner loser fan audience public body head face eye ear nose mouth lip tooth teeth tongue
neck shoulder arm elbow hand finger thumb chest back stomach leg knee foot toe skin bone blood heart
brain hair health illness disease pain fever cold cough medicine pill doctor hospital injury wound
clothes shirt jacket coat dress skirt trousers pants jeans shoe shoes boot boots sock socks hat cap
scarf glove gloves belt pocket button ring necklace umbrella wallet purse suitcase luggage map guide
list schedule calendar date deadline task job career skill talent ability strength energy effort
speed distance direction left right top bottom middle edge front side surface corner circle line
point dot square triangle number amount total average percent half quarter rest end beginning start
finish race match game sport football soccer baseball basketball tennis golf hockey swimming running
exercise training practice lesson course degree diploma certificate license passport visa identity
address city country nation state government election vote law rule right freedom peace war battle
attack defense danger risk safety security protection accident emergency fire smoke flame alarm
rescue help advice warning notice sign signal light switch button screen keyboard mouse cable wire
battery charger plug socket power electricity gas fuel oil engine motor machine tool hammer nail
screw saw drill ladder rope chain wheel tire tyre brake seat belt mirror window roof trunk hood
software website internet network server file folder document report record list table chart graph
image video link password user account setting settings volume channel station program episode
series show news weather forecast headline article magazine newspaper journal diary blog comment
reply message chat call voicemail contact number timer score code pin
""")

VERBS = _words("""
be have do say get make go know take see come think look want give use find tell ask work seem feel
try leave call put mean keep let begin help talk turn start show hear play run move like live believe
hold bring happen write provide sit stand lose pay meet include continue set learn change lead
understand watch follow stop create speak read allow add spend grow open walk win offer remember love
consider appear buy wait serve die send expect build stay fall cut reach kill remain suggest raise
pass sell require report decide pull return explain hope develop carry break receive agree support hit
produce eat cover catch draw choose cause point listen realize realise place close involve increase
apply prepare prefer prove reduce refuse relax release repeat replace reply rest save search share
shut sing sleep smile sound spell steal stick store study succeed suffer supply taste teach tear thank
throw touch travel treat trust visit vote wake wash wear wish wonder worry wrap yell accept act admit
afford answer argue arrange arrive attack attend avoid bake bathe bear beat behave belong bend bet
bite blow boil borrow bother bounce bow brush burn bury calculate celebrate charge chase check cheer
chew clean clear climb collect comb compare compete complain complete connect cook copy correct cost
count crash crawl cross cry cycle damage dance deal deliver depend describe deserve destroy dig
disagree discover dislike dive divide doubt drag dream dress drink drive drop dry earn enjoy enter
escape examine exercise exist explore fail fetch fill finish fit fix flash float flow fly fold forget
forgive freeze frighten gather glow grab greet guard guess hang hate heat hide hug hunt hurry hurt
ignore imagine improve inform insist invent invite iron join joke judge jump kick kiss kneel knit
knock label land last laugh lay lend lie lift light limit load lock march marry matter measure melt
mix mention mind miss name need notice obey order own pack paint park pause pick plan plant please
polish pour practise practice pray press pretend print promise protect punish push rain record relax
remind remove rent repair rescue rush scream sew shake shave shine shoot shop shout sign sink ski
skip slip smell snow solve sort spill spin spray squeeze stamp stare steer step stir stretch strike
switch swim swing tap tease tell thank tick tie tip tour trace trade train transport trap trip
tumble type undress unlock unpack upgrade vanish wander warm warn waste water wave weigh welcome
whisper whistle wink wipe work wriggle yawn zip book cancel confirm schedule dial text email message
mute unmute pause resume skip rewind record delete download upload install update restart reboot
charge set dim brighten lower raise increase decrease enable disable activate show hide display
""")

VERB_FORMS = _words("""
was were been being had has did does done said says saying got getting made making went going gone
knew known took taken taking saw seen seeing came coming thought thinking looked looking wanted
wanting gave given giving used using found finding told telling asked asking worked working seemed
felt feeling tried trying left leaving called calling kept keeping began begun helped talked turned
started showed shown heard played ran running moved liked lived believed held brought happened wrote
written sat stood lost paid met learned learnt changed led understood watched followed stopped
created spoke spoken read reading spent grew grown opened walked won offered remembered loved bought
waited died sent expected built stayed fell fallen cut reached remained suggested raised passed sold
decided returned explained hoped carried broke broken received agreed ate eaten caught drew drawn
chose chosen caused listened closed increased prepared finished arrived answered cooked cleaned
visited travelled traveled drank drunk drove driven flew flown forgot forgotten sang sung slept swam
taught threw thrown wore worn woke woken wrote rode ridden rang rung hid hidden bit shook shaken
stole stolen froze frozen chosen lying dying playing reading writing eating drinking sleeping
walking talking sitting standing waiting watching listening cooking cleaning driving flying
swimming singing dancing studying shopping raining snowing wants costs born tracking likes
living dining needs goes makes takes
""")

ADJECTIVES = _words("""
good new first last long great little own other old right big high different small large next early
young important few public bad same able best better sure free true whole real full special easy
clear recent certain personal open red difficult available likely short single medical current wrong
private past foreign fine common poor natural significant similar hot dead central happy serious
ready simple left physical general environmental financial blue democratic dark various entire close
legal religious cold final main green nice huge popular traditional cultural wide strong heavy light
soft hard quick slow fast loud quiet bright dull clean dirty wet dry warm cool fresh rotten sweet
sour bitter salty spicy tasty delicious hungry thirsty tired sleepy awake busy lazy angry sad glad
proud afraid scared brave calm nervous excited bored boring funny serious kind cruel polite rude
gentle rough smooth sharp blunt thick thin fat slim tall deep shallow narrow broad flat round square
straight curly empty heavy cheap expensive rich poor lucky unlucky famous strange odd normal usual
unusual rare modern ancient early late quick slow safe dangerous healthy sick ill well fit weak
beautiful pretty ugly handsome lovely wonderful terrible horrible awful great excellent perfect
amazing brilliant fantastic silly clever smart stupid wise foolish honest careful careless patient
quiet noisy crowded lonely friendly helpful useful useless important necessary possible impossible
probable correct incorrect wrong true false fair unfair equal main major minor total complete whole
half double single simple complex plain fancy formal casual comfortable uncomfortable pleasant
unpleasant positive negative sure unsure certain uncertain ready willing able unable eager keen
curious interested interesting surprised surprising worried pleased satisfied disappointed upset
sorry grateful jealous confident shy wild tame alive dead asleep alone together online offline
digital electric automatic manual daily weekly monthly yearly annual local national international
global northern southern eastern western central urban rural coastal tropical sunny cloudy rainy
windy snowy foggy stormy freezing hot humid mild wooden plastic metal golden silver glass paper
cotton leather woolen woollen
""")

ADVERBS = _words("""
quickly slowly carefully easily quietly loudly clearly simply really actually probably certainly
finally suddenly immediately directly nearly hardly barely exactly especially generally usually
normally recently currently early late soon already yet still again forward backward backwards away
home abroad upstairs downstairs inside outside nearby together apart alone online tonight outdoors
indoors everywhere anywhere somewhere nowhere sometimes often rarely seldom always never once twice
daily weekly monthly yearly properly badly well better best worse worst fully partly mostly mainly
largely completely totally absolutely perfectly entirely truly seriously honestly happily sadly
luckily unfortunately hopefully definitely possibly maybe perhaps quite rather fairly pretty
extremely highly deeply strongly softly gently roughly briefly shortly straight right left
""")

ALL_WORDS: tuple[str, ...] = tuple(
    sorted(
        set().union(
            FUNCTION_WORDS, CONTRACTIONS, NUMBER_WORDS, ORDINAL_WORDS, MONTHS, WEEKDAYS, NAMES, PLACES,
            ROOMS, DEVICES, FOODS, ANIMALS, COLOURS, GENRES, PLURAL_NOUNS, NOUNS, VERBS, VERB_FORMS,
            ADJECTIVES, ADVERBS,
        )
    )
)
