package main

import "strings"

// words is roughly in order of frequency: the generator draws index k with
// a Zipf probability, so the first words are the most common, as in text.
var words = strings.Fields(`
the to and a of i you it is for in that we your on this have be with my can
not our will me at but are was if as so please just do an order from thanks
it's get would all there know any what up us they been or also when need has
help about out one time by no now account could see back more new like here
still which then should did let some am i'm had them was can't don't how
again check today thank hi email team yes sure see issue support problem
payment delivery package invoice refund card subscription plan price week
day days tomorrow yesterday morning afternoon evening monday tuesday wednesday
thursday friday weekend number address phone code link password login app
website page error message screen button update version change cancel return
send sent received receive arrive arrived shipped shipping tracking status
customer service manager colleague contact reply response answer question
information details attached attachment file document form request case
ticket review confirm confirmed confirmation available unavailable possible
soon quickly already sorry apologies unfortunately happy glad great good
perfect fine okay ok right wrong different same other another first last next
before after during while until since because though although however also
very really quite much many few little more most less least only even well
still just almost never always often sometimes usually maybe probably
definitely certainly exactly actually basically simply kindly hopefully
make made take took give gave go went come came look looked find found think
thought want wanted try tried use used work worked call called ask asked tell
told say said show showed keep kept put set pay paid charge charged bill
billed buy bought sell sold ship open opened close closed start started stop
stopped wait waited expect expected understand understood resolve resolved
fix fixed handle handled process processed upgrade downgrade renew renewed
extend extended transfer transferred verify verified reset register
registered sign signed log logged install installed download downloaded
upload uploaded connect connected sync synced export exported import imported
product products item items size colour color model box parcel courier store
shop warehouse stock discount coupon voucher offer deal sale price total
amount fee cost tax vat receipt statement balance credit debit bank transfer
wallet method option options setting settings profile preferences
notification notifications newsletter feedback survey rating complaint
experience quality problem problems mistake delay delayed damaged broken
missing lost wrong late early fast slow quick easy difficult simple clear
information note notes reference account holder owner user users member
members admin administrator agent agents staff company business office branch
location city country region area postcode street building floor room door
home work mobile desktop laptop tablet browser chrome firefox safari android
iphone windows mac computer device devices camera printer router network
internet connection signal battery screen keyboard charger cable adapter
warranty guarantee repair replacement replace exchange swap return returned
label labels form forms portal dashboard report reports data backup
contract agreement terms conditions policy privacy security access permission
permissions role roles invite invited invitation reminder appointment meeting
schedule scheduled booking booked reservation slot calendar date time hour
hours minute minutes month months year years season holiday holidays christmas
summer winter spring autumn january february march april may june july august
september october november december weekly monthly yearly annual daily
regards best kind wishes cheers hello dear morning afternoon team everyone
someone anyone nobody everything something anything nothing everywhere
somewhere anywhere nowhere whole part half full empty free extra additional
several both either neither each every such own same able unable ready
interested sure certain important urgent necessary required optional
personal private public professional standard premium basic business
enterprise starter pro plus trial monthly annual`)

var firstNames = strings.Fields(`
James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David
Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy
Matthew Lisa Anthony Betty Mark Margaret Donald Sandra Steven Ashley Paul
Kimberly Andrew Emily Joshua Donna Kenneth Michelle Kevin Dorothy Brian Carol
George Amanda Timothy Melissa Ronald Deborah Edward Stephanie Jason Rebecca
Jeffrey Sharon Ryan Laura Jacob Cynthia Gary Kathleen Nicholas Amy Eric
Angela Jonathan Shirley Stephen Anna Larry Brenda Justin Pamela Scott Emma
Brandon Nicole Benjamin Helen Samuel Samantha Gregory Katherine Alexander
Christine Frank Debra Patrick Rachel Raymond Carolyn Jack Janet Dennis Maria
Jerry Olivia Tyler Heather Aaron Diane Jose Julie Adam Joyce Nathan Victoria
Henry Ruth Zachary Virginia Douglas Lauren Peter Kelly Kyle Christina Noah
Joan Ethan Evelyn Jeremy Judith Walter Andrea Christian Hannah Keith Megan
Roger Cheryl Terry Jacqueline Austin Martha Sean Madison Gerald Teresa Carl
Gloria Harold Sara Dylan Janice Arthur Ann Lawrence Kathryn Jordan Abigail
Jesse Sophia Bryan Frances Billy Jean Bruce Alice Gabriel Judy Joe Isabella
Logan Julia Alan Grace Juan Amber Albert Denise Willie Danielle Elijah Marilyn
Wayne Beverly Randy Charlotte Vincent Natalie Mason Theresa Roy Diana Ralph
Brittany Bobby Doris Russell Kayla Bradley Alexis Philip Lori Eugene Marie
Sofia Lucas Leon Mila Hugo Ines Mateo Chloe Luca Elena Noor Omar Yusuf Aisha
Priya Arjun Wei Mei Hiroshi Yuki Sven Astrid Lars Ingrid Pierre Camille Jan
Marta Pedro Lucia Giulia Marco Anja Tomasz Katarzyna Dmitri Olga Nikos Eleni`)

var lastNames = strings.Fields(`
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin
Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker
Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans
Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy
Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard
Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray
Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross
Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes
Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro
Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells
Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson
Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks
Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills
Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan
Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters
Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll
Lane Riley Andrews Ruiz Berg Lindqvist Dubois Moreau Rossi Bianchi Novak
Kowalski Nowak Ivanova Papadopoulos Yilmaz Tanaka Sato Suzuki Wang Li Zhang
Singh Kumar Sharma Khan Ali Haddad Okafor Mensah`)

var (
	orderPrefixes = []string{"A", "B", "SO", "INV", "RMA", "ORD"}
	stops         = []string{".", ".", ".", ".", ".", "!", "?", "?", "..."}
	priorities    = []string{"low", "normal", "normal", "high", "urgent"}
	greetings     = []string{"Hi", "Hello", "Dear", "Hey", "Good morning", "Good afternoon"}
	signoffs      = []string{"Best regards", "Kind regards", "Thanks", "Many thanks", "Cheers", "Best", "Regards", "Thank you"}
	domains       = []string{"mail.example", "post.example", "inbox.example.net", "northwind.example",
		"contoso.example", "fabrikam.example.com", "globex.example.org", "initech.example",
		"umbrella.example.co.uk", "hooli.example", "acme.example", "example.com", "example.org",
		"webmail.example.de", "correo.example.es", "posta.example.it", "courriel.example.fr"}
	plans      = []string{"free", "starter", "starter", "pro", "pro", "business", "enterprise"}
	languages  = []string{"en", "en", "en", "de", "fr", "es", "it", "nl", "pl", "pt", "sv"}
	sources    = []string{"website", "email", "import", "whatsapp", "api", "referral", "event"}
	tags       = []string{"vip", "billing", "shipping", "returns", "b2b", "lead", "churn-risk", "newsletter", "beta", "partner", "wholesale", "priority", "feedback", "bug", "onboarding"}
	companies  = []string{"", "", "", "Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Globex", "Initech", "Umbrella plc", "Hooli", "Acme Corp", "Wayne Enterprises", "Stark Industries", "Wonka Industries", "Soylent", "Tyrell Corp", "Cyberdyne", "Vandelay Industries", "Dunder Mifflin", "Pied Piper", "Bluth Company", "Oceanic Airlines", "Gringotts", "Monarch Solutions"}
	cities     = []string{"London", "Manchester", "Leeds", "Bristol", "Edinburgh", "Dublin", "Paris", "Lyon", "Berlin", "Munich", "Hamburg", "Madrid", "Barcelona", "Lisbon", "Rome", "Milan", "Amsterdam", "Rotterdam", "Brussels", "Vienna", "Zurich", "Stockholm", "Oslo", "Copenhagen", "Warsaw", "Prague", "Athens", "New York", "Toronto", "Sydney"}
	channels   = []string{"email", "email", "chat", "chat", "chat", "whatsapp", "sms", "form"}
	statuses   = []string{"open", "pending", "closed", "closed", "closed", "snoozed"}
	directions = []string{"inbound", "inbound", "inbound", "outbound", "outbound", "note"}
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
		"WhatsApp/2.24.8 A", "Thunderbird/115.10", "Microsoft Outlook 16.0",
	}
	attachmentNames = []string{"invoice", "receipt", "photo", "screenshot", "contract", "statement", "label", "quote"}
)
